#include "core/model_io.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/file_util.h"

namespace strata {
namespace {

constexpr absl::string_view kMagic("\x89STRATA\n", 8);

v1::DenseLayer LayerToProto(const Matrix& w, const RowVector& b, int rows, int cols) {
  v1::DenseLayer layer;
  layer.set_rows(rows);
  layer.set_cols(cols);
  layer.mutable_weights()->Assign(w.data(), w.data() + w.size());
  layer.mutable_biases()->Assign(b.data(), b.data() + b.size());
  return layer;
}

absl::Status PrefixError(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

}  // namespace

v1::ModelArtifact ModelToArtifact(const Model& model) {
  const StackedAutoencoder& net = model.autoencoder();
  const Parameters& p = net.parameters();
  v1::ModelArtifact a;
  *a.mutable_architecture() = net.architecture();
  for (int l = 0; l < net.num_layers(); ++l) {
    v1::DenseLayer layer =
        LayerToProto(p.weights[l], p.biases[l], net.layer_in(l), net.layer_out(l));
    *(l < net.depth() ? a.add_encoder() : a.add_decoder()) = std::move(layer);
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
  return a;
}

absl::StatusOr<std::unique_ptr<Model>> ModelFromArtifact(const v1::ModelArtifact& a) {
  const v1::Architecture& arch = a.architecture();
  if (absl::Status s = ValidateArchitecture(arch); !s.ok()) return s;
  const int depth = arch.encoder_widths_size();
  if (a.encoder_size() != depth || a.decoder_size() != depth) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model has ", a.encoder_size(), " encoder and ", a.decoder_size(),
                     " decoder layers; its architecture needs ", depth, " of each"));
  }
  Parameters params;
  for (int l = 0; l < 2 * depth; ++l) {
    const v1::DenseLayer& layer = l < depth ? a.encoder(l) : a.decoder(l - depth);
    const std::string where = l < depth ? absl::StrCat("encoder layer ", l + 1)
                                        : absl::StrCat("decoder layer ", l - depth + 1);
    const bool tied = arch.tied_weights() && l >= depth;
    const int64_t expected = tied ? 0 : int64_t{layer.rows()} * layer.cols();
    if (layer.rows() < 0 || layer.cols() < 0 || layer.weights_size() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", layer.weights_size(),
                                                     " weights for a ", layer.rows(), "x",
                                                     layer.cols(), " layer"));
    }
    Matrix w = tied ? Matrix() : Matrix(layer.rows(), layer.cols());
    std::copy(layer.weights().begin(), layer.weights().end(), w.data());
    RowVector b(layer.biases_size());
    std::copy(layer.biases().begin(), layer.biases().end(), b.data());
    if (!w.allFinite() || !b.allFinite()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has non-finite parameters"));
    }
    params.weights.push_back(std::move(w));
    params.biases.push_back(std::move(b));
  }
  absl::StatusOr<StackedAutoencoder> net =
      StackedAutoencoder::FromParameters(arch, std::move(params));
  if (!net.ok()) return net.status();
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
  if (info.drift_baseline.features_size() != 0) {
    const v1::DriftBaseline& b = info.drift_baseline;
    if (b.features_size() != arch.input_dim() ||
        b.code().mean_size() != arch.encoder_widths(depth - 1) ||
        b.code().std_size() != b.code().mean_size() ||
        b.reconstruction_error().histogram_proportions_size() !=
            b.reconstruction_error().histogram_edges_size() + 1 ||
        b.code().sample_rows() < 0 ||
        b.code().sample_size() !=
            static_cast<int64_t>(b.code().sample_rows()) * b.code().mean_size() ||
        b.code().sample_errors_size() != b.code().sample_rows()) {
      return absl::InvalidArgumentError("the drift baseline does not match the architecture");
    }
    for (const v1::FeatureBaseline& f : b.features()) {
      if (f.proportions_size() != f.bin_edges_size() + 1 ||
          !std::is_sorted(f.bin_edges().begin(), f.bin_edges().end())) {
        return absl::InvalidArgumentError("the drift baseline has malformed feature bins");
      }
    }
  }
  const v1::AnomalyCalibration& c = info.calibration;
  for (const v1::ScoreDistribution* d :
       {&c.mean_squared(), &c.mean_absolute(), &c.code_distance(), &c.combined()}) {
    if (!std::is_sorted(d->quantiles().begin(), d->quantiles().end()) ||
        !std::isfinite(d->threshold())) {
      return absl::InvalidArgumentError("the anomaly calibration is malformed");
    }
  }
  if (HasCodeScores(c)) {  // absent in models from before the code scores
    const int k = arch.encoder_widths(depth - 1);
    const auto finite = [](const auto& values) {
      return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
    };
    if (c.code().mean_size() != k || c.code().precision_size() != k * k ||
        !finite(c.code().mean()) || !finite(c.code().precision()) ||
        !(c.mse_scale() > 0 && std::isfinite(c.mse_scale())) ||
        c.code_distance().quantiles().empty() || c.combined().quantiles().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the anomaly calibration's code Gaussian does not match the ", k,
                       "-unit code"));
    }
  }
  return std::make_unique<Model>(*std::move(net), *std::move(scaler), std::move(info));
}

std::string SerializeModel(const Model& model) {
  v1::ModelFile file;
  file.set_format_version(kModelFormatVersion);
  ModelToArtifact(model).SerializeToString(file.mutable_payload());
  file.set_payload_crc32c(Crc32c(file.payload()));
  std::string out(kMagic);
  file.AppendToString(&out);
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> ParseModel(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a strata model file (the magic bytes do not match)");
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
  return WriteFileAtomically(path, SerializeModel(model));
}

absl::StatusOr<std::unique_ptr<Model>> ReadModelFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::unique_ptr<Model>> model = ParseModel(*bytes);
  if (!model.ok()) return PrefixError(model.status(), path);
  return model;
}

}  // namespace strata
