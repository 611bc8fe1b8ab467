#include "core/model/model_io.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/crc32c.h"
#include "core/base/file_util.h"

namespace strata {
namespace {

constexpr absl::string_view kMagic("\x89STRATA\n", 8);

v1::DenseLayer LayerToProto(const Parameters& p, int l, int rows, int cols) {
  v1::DenseLayer layer;
  layer.set_rows(rows);
  layer.set_cols(cols);
  const auto assign = [](const auto& from, google::protobuf::RepeatedField<float>* to) {
    to->Assign(from.data(), from.data() + from.size());
  };
  assign(p.weights[l], layer.mutable_weights());
  assign(p.biases[l], layer.mutable_biases());
  assign(p.out_scale[l], layer.mutable_out_scale());
  assign(p.out_shift[l], layer.mutable_out_shift());
  return layer;
}

absl::Status PrefixError(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

// Appends net's layers to `encoder` and `decoder`.
void NetworkToProto(const StackedAutoencoder& net,
                    google::protobuf::RepeatedPtrField<v1::DenseLayer>* encoder,
                    google::protobuf::RepeatedPtrField<v1::DenseLayer>* decoder) {
  const Parameters& p = net.parameters();
  for (int l = 0; l < net.num_layers(); ++l) {
    *(l < net.depth() ? encoder->Add() : decoder->Add()) =
        LayerToProto(p, l, net.layer_in(l), net.layer_out(l));
  }
}

// The network of `arch` from its layers. `member` names an ensemble network
// in errors; empty for the model's own.
absl::StatusOr<StackedAutoencoder> NetworkFromProto(
    const v1::Architecture& arch, const google::protobuf::RepeatedPtrField<v1::DenseLayer>& encoder,
    const google::protobuf::RepeatedPtrField<v1::DenseLayer>& decoder, absl::string_view member) {
  const std::string prefix = member.empty() ? "" : absl::StrCat(member, ": ");
  const int depth = arch.encoder_widths_size();
  if (encoder.size() != depth || decoder.size() != depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(member.empty() ? "the model" : member, " has ", encoder.size(), " encoder and ", decoder.size(),
                     " decoder layers; its architecture needs ", depth, " of each"));
  }
  Parameters params;
  for (int l = 0; l < 2 * depth; ++l) {
    const v1::DenseLayer& layer = l < depth ? encoder[l] : decoder[l - depth];
    const std::string where = l < depth ? absl::StrCat("encoder layer ", l + 1)
                                        : absl::StrCat("decoder layer ", l - depth + 1);
    const bool tied = arch.tied_weights() && l >= depth;
    const int64_t expected = tied ? 0 : int64_t{layer.rows()} * layer.cols();
    if (layer.rows() < 0 || layer.cols() < 0 || layer.weights_size() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, where, ": ", layer.weights_size(),
                                                     " weights for a ", layer.rows(), "x",
                                                     layer.cols(), " layer"));
    }
    Matrix w = tied ? Matrix() : Matrix(layer.rows(), layer.cols());
    std::copy(layer.weights().begin(), layer.weights().end(), w.data());
    if (layer.out_scale_size() != layer.out_shift_size() ||
        (layer.out_scale_size() != 0 && layer.out_scale_size() != layer.cols())) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, where, ": ", layer.out_scale_size(), " output scales and ",
          layer.out_shift_size(), " output shifts for ", layer.cols(),
          " outputs; a folded normalisation needs one of each per output, or none"));
    }
    const auto vector = [](const google::protobuf::RepeatedField<float>& from) {
      RowVector v(from.size());
      std::copy(from.begin(), from.end(), v.data());
      return v;
    };
    params.weights.push_back(std::move(w));
    params.biases.push_back(vector(layer.biases()));
    params.out_scale.push_back(vector(layer.out_scale()));
    params.out_shift.push_back(vector(layer.out_shift()));
  }
  absl::StatusOr<StackedAutoencoder> net =
      StackedAutoencoder::FromParameters(arch, std::move(params));
  if (!net.ok() && !member.empty()) return PrefixError(net.status(), member);
  return net;
}

}  // namespace

v1::ModelArtifact ModelToArtifact(const Model& model) {
  const StackedAutoencoder& net = model.autoencoder();
  v1::ModelArtifact a;
  *a.mutable_architecture() = net.architecture();
  NetworkToProto(net, a.mutable_encoder(), a.mutable_decoder());
  for (const StackedAutoencoder& other : model.ensemble()) {
    v1::EnsembleNetwork* e = a.add_ensemble();
    NetworkToProto(other, e->mutable_encoder(), e->mutable_decoder());
  }
  *a.mutable_scaler() = model.scaler().ToProto();
  const ModelInfo& info = model.info();
  for (const std::string& name : info.feature_names) a.add_feature_names(name);
  *a.mutable_config() = info.config;
  for (const v1::EpochRecord& e : info.history) *a.add_history() = e;
  *a.mutable_summary() = info.summary;
  a.set_created_unix_micros(info.created_unix_micros);
  a.set_strata_version(info.strata_version);
  *a.mutable_calibration() = info.calibration;
  *a.mutable_drift_baseline() = info.drift_baseline;
  if (model.classifier().has_value()) {
    const ClassifierHead& head = *model.classifier();
    v1::ClassifierHead* c = a.mutable_classifier();
    for (const std::string& name : info.class_names) c->add_class_names(name);
    v1::DenseLayer* layer = c->mutable_layer();
    layer->set_rows(static_cast<int>(head.weights.rows()));
    layer->set_cols(static_cast<int>(head.weights.cols()));
    layer->mutable_weights()->Assign(head.weights.data(),
                                     head.weights.data() + head.weights.size());
    layer->mutable_biases()->Assign(head.bias.data(), head.bias.data() + head.bias.size());
  }
  return a;
}

absl::StatusOr<std::unique_ptr<Model>> ModelFromArtifact(const v1::ModelArtifact& a) {
  const v1::Architecture& arch = a.architecture();
  if (absl::Status s = ValidateArchitecture(arch); !s.ok()) return s;
  if (arch.batch_norm() != v1::BATCH_NORM_NONE) {
    return absl::InvalidArgumentError(
        "architecture.batch_norm is set: a model file holds batch normalisation folded into "
        "its layers (weights and biases, or out_scale and out_shift), not running statistics");
  }
  absl::StatusOr<StackedAutoencoder> net =
      NetworkFromProto(arch, a.encoder(), a.decoder(), "");
  if (!net.ok()) return net.status();
  std::vector<StackedAutoencoder> ensemble;
  for (int m = 0; m < a.ensemble_size(); ++m) {
    absl::StatusOr<StackedAutoencoder> other =
        NetworkFromProto(arch, a.ensemble(m).encoder(), a.ensemble(m).decoder(),
                         absl::StrCat("ensemble network ", m + 2));
    if (!other.ok()) return other.status();
    ensemble.push_back(*std::move(other));
  }
  absl::StatusOr<Scaler> scaler = Scaler::FromProto(a.scaler(), arch.input_dim());
  if (!scaler.ok()) return scaler.status();
  ModelInfo info;
  if (a.feature_names_size() != 0 && a.feature_names_size() != arch.input_dim()) {
    return absl::InvalidArgumentError(
        absl::StrCat(a.feature_names_size(), " feature names for ", arch.input_dim(), " features"));
  }
  info.feature_names.assign(a.feature_names().begin(), a.feature_names().end());
  info.config = a.config();
  info.history.assign(a.history().begin(), a.history().end());
  info.summary = a.summary();
  info.created_unix_micros = a.created_unix_micros();
  info.strata_version = a.strata_version();
  info.calibration = a.calibration();
  info.drift_baseline = a.drift_baseline();
  std::optional<ClassifierHead> head;
  if (a.has_classifier()) {
    const v1::DenseLayer& layer = a.classifier().layer();
    if (layer.rows() < 1 || layer.cols() < 1 ||
        layer.weights_size() != int64_t{layer.rows()} * layer.cols() ||
        layer.biases_size() != layer.cols() || layer.out_scale_size() != 0 ||
        layer.out_shift_size() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the classifier head has ", layer.weights_size(), " weights and ",
          layer.biases_size(), " biases for a ", layer.rows(), "x", layer.cols(),
          " layer (and no output scale or shift)"));
    }
    head.emplace();
    head->weights.resize(layer.rows(), layer.cols());
    std::copy(layer.weights().begin(), layer.weights().end(), head->weights.data());
    head->bias.resize(layer.cols());
    std::copy(layer.biases().begin(), layer.biases().end(), head->bias.data());
    info.class_names.assign(a.classifier().class_names().begin(),
                            a.classifier().class_names().end());
  }
  auto model = std::make_unique<Model>(*std::move(net), *std::move(scaler), std::move(info),
                                       std::move(ensemble), std::move(head));
  // Values, tables and the calibration's and baseline's shapes: the checks a
  // freshly trained model passes too.
  if (absl::Status s = ValidateModel(*model); !s.ok()) return s;
  return model;
}

absl::StatusOr<std::string> SerializeModel(const Model& model, int64_t max_bytes) {
  const v1::ModelArtifact artifact = ModelToArtifact(model);
  // Protobuf serialises and parses messages up to 2 GiB only; past that a
  // file would be written that no loader could read. Sized before any
  // bytes are produced. kEnvelopeBytes covers the magic and the ModelFile's
  // own fields and tags.
  constexpr int64_t kEnvelopeBytes = 64;
  const int64_t payload_bytes = static_cast<int64_t>(artifact.ByteSizeLong());
  if (payload_bytes + kEnvelopeBytes > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model would take ", payload_bytes, " bytes; a model file holds at most ", max_bytes,
        " (2 GiB, protobuf's limit): train a smaller network"));
  }
  v1::ModelFile file;
  file.set_format_version(kModelFormatVersion);
  if (!artifact.SerializeToString(file.mutable_payload())) {
    return absl::InternalError(
        absl::StrCat("the model (", payload_bytes, " bytes) could not be serialised"));
  }
  file.set_payload_crc32c(Crc32c(file.payload()));
  std::string out(kMagic);
  if (!file.AppendToString(&out)) {
    return absl::InternalError("the model file could not be serialised");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> ParseModel(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a strata model file (the magic bytes do not match)");
  }
  // Checked before the int cast below, which would wrap.
  if (bytes.size() > static_cast<uint64_t>(kMaxModelFileBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model file has ", bytes.size(), " bytes, larger than any model file (",
                     kMaxModelFileBytes, ")"));
  }
  bytes.remove_prefix(kMagic.size());
  v1::ModelFile file;
  if (!file.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("the model file is truncated or damaged (",
                                            bytes.size(), " bytes after the magic do not parse)"));
  }
  if (file.format_version() != kModelFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("model format version ", file.format_version(),
                                                   " is not supported (this build reads ",
                                                   kModelFormatVersion, ")"));
  }
  const uint32_t crc = Crc32c(file.payload());
  if (crc != file.payload_crc32c()) {
    return absl::DataLossError(absl::StrCat("the model file is corrupt or truncated: checksum ",
                                            crc, " does not match the stored ",
                                            file.payload_crc32c()));
  }
  v1::ModelArtifact artifact;
  if (!artifact.ParseFromString(file.payload())) {
    return absl::DataLossError("the model payload does not parse although its checksum matches");
  }
  return ModelFromArtifact(artifact);
}

absl::Status WriteModelFile(const Model& model, const std::string& path) {
  absl::StatusOr<std::string> bytes = SerializeModel(model);
  if (!bytes.ok()) return PrefixError(bytes.status(), path);
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<std::unique_ptr<Model>> ReadModelFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path, kMaxModelFileBytes);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::unique_ptr<Model>> model = ParseModel(*bytes);
  if (!model.ok()) return PrefixError(model.status(), path);
  return model;
}

}  // namespace strata
