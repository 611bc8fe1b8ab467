"""The Open Inference Protocol against a real strata-server, from a client
generated from proto/inference/open_inference_grpc.proto (oip_e2e_test.cc
generates it and runs this with Debian's /usr/bin/python3).

    oip_e2e_test.py answers TARGET METRICS_PORT MODEL
        every RPC; ModelInfer's outputs against strata's own Encode,
        Reconstruct, AnomalyScore and Predict, byte for byte, from typed and
        raw inputs; ModelStreamInfer; errors; metrics and drift.
    oip_e2e_test.py auth TARGET MODEL TOKEN
        the token rules (--auth_token_file with --auth_read).

Prints one "ok <check>" line per check passed; an assertion stops it with
exit code 1 and says what differed.
"""

import struct
import sys
import urllib.request

import grpc
import numpy as np

from inference import open_inference_grpc_pb2 as oip
from inference import open_inference_grpc_pb2_grpc as oip_grpc
from strata.v1 import service_pb2 as sv
from strata.v1 import service_pb2_grpc as sv_grpc


def ok(what):
    print("ok", what, flush=True)


def f32_bytes(values):
    """Float32 values (from a repeated float field, or an array) as the
    little-endian bytes the server sent: a proto float read into Python is
    exact, so packing it again gives the wire's bits."""
    values = list(values)
    return struct.pack("<%df" % len(values), *values)


def expect_error(call, code, *fragments):
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        for f in fragments:
            assert f in e.details(), (f, e.details())
        return e.details()
    raise AssertionError("no error; expected %s with %s" % (code, fragments))


def infer_request(model, rows, outputs=(), raw=False, version="", names=None, params=None):
    req = oip.ModelInferRequest(model_name=model, model_version=version, id="req-7")
    t = req.inputs.add(name="records", datatype="FP32", shape=list(rows.shape))
    if names is not None:
        t.parameters["feature_names"].string_param = ",".join(names)
    if raw:
        req.raw_input_contents.append(rows.astype("<f4").tobytes())
    else:
        t.contents.fp32_contents.extend(rows.reshape(-1).tolist())
    for o in outputs:
        if isinstance(o, tuple):
            out = req.outputs.add(name=o[0])
            for k, v in o[1].items():
                if isinstance(v, str):
                    out.parameters[k].string_param = v
                else:
                    out.parameters[k].int64_param = v
        else:
            req.outputs.add(name=o)
    for k, v in (params or {}).items():
        req.parameters[k].string_param = v
    return req


def tensors(resp):
    """{name: (datatype, shape, bytes)}: typed contents packed as raw ones,
    so that typed and raw answers compare as bytes."""
    out = {}
    for i, t in enumerate(resp.outputs):
        if resp.raw_output_contents:
            data = resp.raw_output_contents[i]
        elif t.datatype == "FP32":
            data = f32_bytes(t.contents.fp32_contents)
        elif t.datatype == "BOOL":
            data = bytes(1 if v else 0 for v in t.contents.bool_contents)
        elif t.datatype == "BYTES":
            data = b"".join(struct.pack("<I", len(v)) + v for v in t.contents.bytes_contents)
        else:
            raise AssertionError("unexpected datatype " + t.datatype)
        out[t.name] = (t.datatype, list(t.shape), data, t.parameters)
    return out


def answers(target, metrics_port, model):
    channel = grpc.insecure_channel(target)
    o = oip_grpc.GRPCInferenceServiceStub(channel)
    s = sv_grpc.InferenceServiceStub(channel)
    models = sv_grpc.ModelServiceStub(channel)

    # Health and metadata.
    assert o.ServerLive(oip.ServerLiveRequest()).live
    assert o.ServerReady(oip.ServerReadyRequest()).ready
    meta = o.ServerMetadata(oip.ServerMetadataRequest())
    assert meta.name == "strata" and meta.version, meta
    assert "model_stream_infer" in meta.extensions, meta
    ok("server")
    assert o.ModelReady(oip.ModelReadyRequest(name=model)).ready
    assert o.ModelReady(oip.ModelReadyRequest(name=model, version="1")).ready
    assert not o.ModelReady(oip.ModelReadyRequest(name=model, version="7")).ready
    assert not o.ModelReady(oip.ModelReadyRequest(name="nope")).ready
    assert not o.ModelReady(oip.ModelReadyRequest(name=model, version="canary")).ready
    expect_error(lambda: o.ModelReady(oip.ModelReadyRequest(name="")),
                 grpc.StatusCode.INVALID_ARGUMENT, "model name is empty")
    ok("model ready")
    got = sv_grpc.ModelServiceStub(channel).GetModel(sv.GetModelRequest(model=sv.ModelSpec(name=model)))
    names = list(got.feature_names)
    d = len(names)
    widths = list(got.architecture.encoder_widths)
    mm = o.ModelMetadata(oip.ModelMetadataRequest(name=model))
    assert mm.name == model and list(mm.versions) == ["1"] and mm.platform == "strata", mm
    assert [(t.name, t.datatype, list(t.shape)) for t in mm.inputs] == [("records", "FP32", [-1, d])]
    assert mm.inputs[0].parameters["feature_names"].string_param == ",".join(names)
    layer_names = ["h%d" % (i + 1) for i in range(len(widths) - 1)] + ["code"]
    expected = [(n, "FP32", [-1, w]) for n, w in zip(layer_names, widths)] + [
        ("reconstruction", "FP32", [-1, d]), ("score", "FP32", [-1]),
        ("is_anomaly", "BOOL", [-1]), ("percentile", "FP32", [-1]),
        ("feature_errors", "FP32", [-1, d]),
        ("probabilities", "FP32", [-1, len(got.class_names)]), ("class", "BYTES", [-1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in mm.outputs] == expected, mm.outputs
    expect_error(lambda: o.ModelMetadata(oip.ModelMetadataRequest(name="nope")),
                 grpc.StatusCode.NOT_FOUND, "nope")
    ok("model metadata")

    # ModelInfer against strata's own RPCs, on the same rows.
    rng = np.random.default_rng(5)
    rows = rng.normal(0, 2, size=(20, d)).astype(np.float32)
    dense = sv.DenseMatrix(rows=20, cols=d, values=rows.reshape(-1).tolist())
    spec = sv.ModelSpec(name=model)
    window_before = models.DriftReport(sv.DriftReportRequest(model=spec)).figures.window_rows
    code = s.Encode(sv.EncodeRequest(model=spec, rows=dense))
    h1 = s.Encode(sv.EncodeRequest(model=spec, rows=dense, layer=1))
    rec = s.Reconstruct(sv.ReconstructRequest(model=spec, rows=dense))
    score = s.AnomalyScore(sv.AnomalyScoreRequest(
        model=spec, rows=dense, options=sv.ScoreOptions(feature_errors=True)))
    pred = s.Predict(sv.PredictRequest(model=spec, rows=dense))
    own = {
        "code": f32_bytes(code.features.values),
        "h1": f32_bytes(h1.features.values),
        "reconstruction": f32_bytes(rec.reconstructions.values),
        "score": f32_bytes(r.score for r in score.scores),
        "percentile": f32_bytes(r.percentile for r in score.scores),
        "is_anomaly": bytes(1 if r.is_anomaly else 0 for r in score.scores),
        "feature_errors": f32_bytes(v for r in score.scores for v in r.feature_errors),
        "probabilities": f32_bytes(v for p in pred.predictions for v in p.probabilities),
        "class": b"".join(struct.pack("<I", len(p.top_class)) + p.top_class.encode()
                          for p in pred.predictions),
    }
    assert sum(r.is_anomaly for r in score.scores) > 0, "rows this far out should include anomalies"
    window_mid = models.DriftReport(sv.DriftReportRequest(model=spec)).figures.window_rows
    all_outputs = ["h1", "code", "reconstruction", "score", "is_anomaly", "percentile",
                   "feature_errors", "probabilities", "class"]
    by_kind = {}
    for raw in (False, True):
        resp = o.ModelInfer(infer_request(model, rows, outputs=all_outputs, raw=raw, names=names))
        assert resp.model_name == model and resp.model_version == "1" and resp.id == "req-7", resp
        assert bool(resp.raw_output_contents) == raw
        got_t = tensors(resp)
        assert list(got_t) == all_outputs, list(got_t)
        for name in all_outputs:
            assert got_t[name][2] == own[name], "%s differs (raw=%s)" % (name, raw)
        assert got_t["code"][1] == [20, widths[-1]] and got_t["h1"][1] == [20, widths[0]]
        assert got_t["code"][3]["layer"].int64_param == len(widths)
        assert got_t["feature_errors"][1] == [20, d] and got_t["score"][1] == [20]
        assert resp.parameters["metric"].string_param == sv.ScoreOptions.Metric.Name(score.metric)
        assert resp.parameters["threshold"].double_param == score.threshold
        assert not got_t["score"][3], "score parameters are the response's, once"
        assert got_t["probabilities"][3]["class_names"].string_param == ",".join(pred.class_names)
        by_kind[raw] = got_t
    ok("model infer: 9 outputs equal strata's own answers byte for byte, typed and raw")
    # Each request observed its rows once for drift, whatever it asked for:
    # 5 own calls, then 2 ModelInfer calls of 20 rows each.
    window_after = models.DriftReport(sv.DriftReportRequest(model=spec)).figures.window_rows
    assert window_mid - window_before == 5 * 20, (window_before, window_mid)
    assert window_after - window_mid == 2 * 20, (window_mid, window_after)
    ok("drift window counts each ModelInfer's rows once")

    # No score output, no score parameters.
    assert not o.ModelInfer(infer_request(model, rows, ["code"])).parameters
    # No outputs named: every output, in ModelMetadata's order.
    every = tensors(o.ModelInfer(infer_request(model, rows)))
    assert list(every) == [t.name for t in mm.outputs], list(every)
    assert every["score"][2] == own["score"] and every["class"][2] == own["class"]
    ok("model infer: no outputs named gives every output")
    # A metric as a request or output parameter, a layer as an output parameter.
    # The default is another metric, so the parameter must have been read.
    assert score.metric != sv.ScoreOptions.MEAN_SQUARED, score.metric
    mse = s.AnomalyScore(sv.AnomalyScoreRequest(
        model=spec, rows=dense, options=sv.ScoreOptions(metric=sv.ScoreOptions.MEAN_SQUARED)))
    for req in (infer_request(model, rows, ["score"], params={"metric": "mean_squared"}),
                infer_request(model, rows, [("score", {"metric": "MEAN_SQUARED"})])):
        resp = o.ModelInfer(req)
        assert tensors(resp)["score"][2] == f32_bytes(r.score for r in mse.scores)
        assert resp.parameters["metric"].string_param == "MEAN_SQUARED"
        assert resp.parameters["threshold"].double_param == mse.threshold
    t = tensors(o.ModelInfer(infer_request(model, rows, [("code", {"layer": 1})])))["code"]
    assert t[2] == own["h1"] and t[3]["layer"].int64_param == 1
    ok("model infer: metric and layer parameters")
    # What the KServe SDK sends (set_data_from_numpy, binary_data=True):
    # binary_data_size on the raw input, binary_data on each output.
    sdk = infer_request(model, rows, ["score"], raw=True)
    sdk.inputs[0].parameters["binary_data_size"].int64_param = 20 * d * 4
    sdk.outputs[0].parameters["binary_data"].bool_param = True
    assert tensors(o.ModelInfer(sdk))["score"][2] == own["score"]
    sdk.inputs[0].parameters["binary_data_size"].int64_param = 7
    expect_error(lambda: o.ModelInfer(sdk), grpc.StatusCode.INVALID_ARGUMENT,
                 "'binary_data_size' is not the integer %d" % (20 * d * 4))
    ok("model infer: the KServe SDK's binary_data parameters")

    # Errors name the tensor, shape or parameter.
    E = grpc.StatusCode.INVALID_ARGUMENT
    bad = infer_request(model, rows, ["score"])
    bad.inputs[0].name = "x"
    expect_error(lambda: o.ModelInfer(bad), E, "input 'x'", "records")
    bad = infer_request(model, rows, ["score"])
    bad.inputs[0].datatype = "FP64"
    expect_error(lambda: o.ModelInfer(bad), E, "FP64", "FP32")
    bad = infer_request(model, rows, ["score"])
    bad.inputs[0].shape[:] = [21, d]
    expect_error(lambda: o.ModelInfer(bad), E, "fp32_contents holds %d values" % (20 * d),
                 "[21, %d]" % d)
    bad = infer_request(model, rows, ["score"], raw=True)
    bad.raw_input_contents[0] = bad.raw_input_contents[0][:-4]
    expect_error(lambda: o.ModelInfer(bad), E, "raw_input_contents[0] holds")
    bad = infer_request(model, rows, ["score"])
    bad.raw_input_contents.append(b"\0" * (20 * d * 4))
    expect_error(lambda: o.ModelInfer(bad), E, "both contents.fp32_contents and raw_input_contents")
    bad = infer_request(model, rows, ["score"])
    bad.inputs[0].shape[:] = [20 * d]
    expect_error(lambda: o.ModelInfer(bad), E, "has 1 dimensions")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows[:, :d - 1], ["score"])), E,
                 "expected %d columns" % d)
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score"], names=names[::-1])),
                 E, "column_names")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["scores"])), E,
                 "output 'scores'", "its outputs are h1, code")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score", "score"])), E,
                 "requested twice")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score"], params={"priority": "1"})),
                 E, "request parameter 'priority'")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score"], params={"metric": "l2"})),
                 E, "'metric' is 'l2'")
    expect_error(lambda: o.ModelInfer(infer_request(
        model, rows, [("score", {"metric": "MEAN_ABSOLUTE"})], params={"metric": "MEAN_SQUARED"})),
        E, "one request has one metric")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, [("code", {"layer": 9})])), E,
                 "parameter 'layer' is 9")
    nan = rows.copy()
    nan[3, 2] = np.nan
    expect_error(lambda: o.ModelInfer(infer_request(model, nan, ["score"])), E, "row 3")
    expect_error(lambda: o.ModelInfer(infer_request("nope", rows, ["score"])),
                 grpc.StatusCode.NOT_FOUND, "nope")
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score"], version="7")),
                 grpc.StatusCode.NOT_FOUND, "version 7")
    ok("model infer: errors")

    # ModelStreamInfer: answers in order; a bad request gets error_message
    # and the stream goes on.
    reqs = [infer_request(model, rows, all_outputs, raw=True),
            infer_request(model, rows, ["nope"]),
            infer_request(model, rows, all_outputs)]
    for i, r in enumerate(reqs):
        r.id = "s%d" % i
    answers_ = list(o.ModelStreamInfer(iter(reqs)))
    assert [a.infer_response.id for a in answers_] == ["s0", "s1", "s2"], answers_
    assert not answers_[0].error_message and not answers_[2].error_message
    assert answers_[1].error_message.startswith("INVALID_ARGUMENT: output 'nope'"), answers_[1]
    for a in (answers_[0], answers_[2]):
        t = tensors(a.infer_response)
        for name in all_outputs:
            assert t[name][2] == own[name], name
    ok("model stream infer")

    # Metrics: the calls are counted under their method names.
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % metrics_port, timeout=10).read().decode()
    for method in ("ModelInfer", "ModelStreamInfer", "ModelMetadata", "ModelReady"):
        assert 'method="%s"' % method in text, method
    ok("metrics")


def auth(target, model, token):
    channel = grpc.insecure_channel(target)
    o = oip_grpc.GRPCInferenceServiceStub(channel)
    rows = np.zeros((1, 6), np.float32)
    assert o.ServerLive(oip.ServerLiveRequest()).live
    assert o.ServerReady(oip.ServerReadyRequest()).ready
    U = grpc.StatusCode.UNAUTHENTICATED
    expect_error(lambda: o.ModelInfer(infer_request(model, rows, ["score"])), U)
    expect_error(lambda: o.ModelMetadata(oip.ModelMetadataRequest(name=model)), U)
    expect_error(lambda: o.ModelReady(oip.ModelReadyRequest(name=model)), U)
    expect_error(lambda: list(o.ModelStreamInfer(iter([infer_request(model, rows, ["score"])]))), U)
    md = [("authorization", "Bearer " + token)]
    r = o.ModelInfer(infer_request(model, rows, ["score"]), metadata=md)
    assert len(r.outputs) == 1 and r.outputs[0].name == "score"
    assert o.ModelReady(oip.ModelReadyRequest(name=model), metadata=md).ready
    ok("auth")


if __name__ == "__main__":
    if sys.argv[1] == "answers":
        answers(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        auth(sys.argv[2], sys.argv[3], sys.argv[4])
    print("all ok")
