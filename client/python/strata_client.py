"""A Python client for strata-server.

Uses Debian's python3-grpcio (under /usr/bin/python3) and the stubs that the
build generates from proto/ with protoc and grpc_python_plugin into
<build>/python, next to a copy of this module:

    PYTHONPATH=build/python /usr/bin/python3
    >>> from strata_client import StrataClient
    >>> client = StrataClient("127.0.0.1:50051")
    >>> job = client.train("thyroid", rows, feature_names=names, wait=True)
    >>> codes = client.encode("thyroid", rows)            # list of lists
    >>> scores = client.score("thyroid", rows)            # list of RowScore
    >>> for response in client.stream_scores("thyroid", batches): ...

Rows are sequences of sequences of numbers (one inner sequence per record).
Failed calls raise StrataError with the gRPC status code and the server's
message, which names the row, column or field at fault.
"""

import itertools
import json
import numbers

import grpc
from google.protobuf import json_format

from strata.v1 import service_pb2, service_pb2_grpc, train_config_pb2

__all__ = ["StrataClient", "StrataError", "service_pb2"]

# Values per upload chunk: about 1 MiB of floats.
_CHUNK_VALUES = 1 << 18


class StrataError(Exception):
    """A failed call: `code` is the grpc.StatusCode, str() the server's message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code

    def __str__(self):
        return "%s: %s" % (self.code.name, self.args[0])


def _dense(rows):
    """Rows as a DenseMatrix, or a one-line ValueError, before any RPC, for
    what the server would refuse or misread. Rows are 2-D: a sequence of
    equal-length sequences of real numbers, or an array with .ndim, .shape and
    .dtype (numpy's, say; numpy itself is not needed), with at least one row
    and one column and no complex or object values."""
    if hasattr(rows, "ndim") and hasattr(rows, "shape") and hasattr(rows, "dtype"):
        if rows.ndim != 2:
            raise ValueError("rows must be 2-D (rows x columns), not of shape %s"
                             % (tuple(rows.shape),))
        _check_not_empty(tuple(rows.shape))
        _check_dtype(rows, "rows")
        rows = rows.tolist() if hasattr(rows, "tolist") else rows
    rows = list(rows)
    _check_not_empty((len(rows),))
    matrix = service_pb2.DenseMatrix(rows=len(rows))
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise ValueError("rows must be 2-D (rows x columns): row %d is %.40r, not a "
                             "sequence of numbers" % (i, row))
        if i == 0:
            matrix.cols = len(row)
            _check_not_empty((len(rows), len(row)))
        elif len(row) != matrix.cols:
            raise ValueError("ragged rows: row %d has %d values, row 0 has %d"
                             % (i, len(row), matrix.cols))
        _check_dtype(row, "row %d" % i)
        try:
            matrix.values.extend(map(float, row))
        except (TypeError, ValueError):
            j, v = next((j, v) for j, v in enumerate(row) if not _is_real(v))
            raise ValueError("row %d, column %d: %.40r is not a real number" % (i, j, v)) from None
    return matrix


def _check_not_empty(shape):
    for axis, what in enumerate(("rows", "columns")[:len(shape)]):
        if shape[axis] == 0:
            raise ValueError("nothing to send: 0 %s (shape %s)" % (what, shape))


def _check_dtype(array, what):
    """Refuses an array (numpy's or alike) whose dtype is not real numbers."""
    kind = getattr(getattr(array, "dtype", None), "kind", "f")  # b, i, u, f: bool, ints, floats
    if kind not in "biuf":
        raise ValueError("%s: dtype %s; need real numbers (bool, int or float)"
                         % (what, array.dtype))


def _is_real(value):
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


_LABEL_LIKE = {"label", "class", "target", "y", "anomaly", "is_anomaly", "outlier"}


def _by_name(matrix, columns, drop_columns, features, model):
    """The matrix with `columns` (its columns' names) put in the order of the
    model's `features`, dropping `drop_columns`; a one-line ValueError that
    lists both sets of names when they are not the same set. `model` names
    the model version for the message."""
    columns, drop_columns = list(columns), list(drop_columns)
    if len(columns) != matrix.cols:
        raise ValueError("%d column names %s for rows of %d columns"
                         % (len(columns), columns, matrix.cols))
    for name in drop_columns:
        if name not in columns:
            raise ValueError("cannot drop column %r: the columns are %s" % (name, columns))
    kept = [name for name in columns if name not in drop_columns]
    twice = sorted({name for name in kept if kept.count(name) > 1})
    extra = [name for name in kept if name not in features]
    missing = [name for name in features if name not in kept]
    if twice or extra or missing:
        problems = (["%s more than once" % twice] if twice else []) + \
                   (["%s not among the model's" % extra] if extra else []) + \
                   (["%s missing" % missing] if missing else [])
        labels = [name for name in extra if name.strip().lower() in _LABEL_LIKE]
        hint = "; leave a label out with drop_columns=%s" % labels if labels else ""
        raise ValueError("columns do not match the features of %s: input %s, model %s: %s%s"
                         % (model, kept, list(features), ", ".join(problems), hint))
    order = [columns.index(name) for name in features]
    values, c = matrix.values, matrix.cols
    reordered = service_pb2.DenseMatrix(rows=matrix.rows, cols=len(order),
                                        column_names=features)
    reordered.values.extend(itertools.chain.from_iterable(
        zip(*(values[k::c] for k in order))))
    return reordered


def _rows(matrix):
    """A DenseMatrix as a list of lists."""
    c = matrix.cols
    return [list(matrix.values[r * c:(r + 1) * c]) for r in range(matrix.rows)]


def _spec(model, version=None, label=None):
    spec = service_pb2.ModelSpec(name=model)
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    if version is not None:
        spec.version = version
    if label is not None:
        spec.label = label
    return spec


def _config(config):
    """A TrainConfig from None, a dict (the JSON form), a JSON string or a TrainConfig."""
    if config is None:
        return train_config_pb2.TrainConfig()
    if isinstance(config, train_config_pb2.TrainConfig):
        return config
    if isinstance(config, str):
        config = json.loads(config)
    message = train_config_pb2.TrainConfig()
    try:
        return json_format.ParseDict(_upper_enums(config, message.DESCRIPTOR), message)
    except json_format.ParseError as e:
        raise ValueError("config: %s" % e) from None


def _upper_enums(value, descriptor):
    """The config with enum names in upper case: the server (and the CLI)
    accept "relu" for RELU, protobuf's Python parser does not."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is not None and field.enum_type is not None:
            upper = lambda x: x.upper() if isinstance(x, str) else x
            v = [upper(x) for x in v] if isinstance(v, list) else upper(v)
        elif field is not None and field.message_type is not None:
            v = _upper_enums(v, field.message_type)
        out[key] = v
    return out


class StrataClient:
    """One channel to a strata-server; safe to share between threads."""

    def __init__(self, target="127.0.0.1:50051", token=None, root_certificates=None,
                 timeout=60.0, max_message_bytes=64 << 20):
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._metadata = [("authorization", "Bearer " + token)] if token else []
        self._timeout = timeout
        self._inference = service_pb2_grpc.InferenceServiceStub(self._channel)
        self._training = service_pb2_grpc.TrainingServiceStub(self._channel)
        self._models = service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout=True):
        try:
            return method(request, timeout=self._timeout if timeout else None,
                          metadata=self._metadata)
        except grpc.RpcError as e:
            raise StrataError(e.code(), e.details()) from None

    # ------------------------------------------------------------ inference

    def encode(self, model, rows, layer=0, version=None, label=None):
        """Features of encoder layer `layer` (1 = h1 ... depth; 0 = the code)."""
        request = service_pb2.EncodeRequest(model=_spec(model, version, label), rows=_dense(rows),
                                            layer=layer)
        return _rows(self._call(self._inference.Encode, request).features)

    def reconstruct(self, model, rows, version=None, label=None):
        """Reconstructions in the rows' original units."""
        request = service_pb2.ReconstructRequest(model=_spec(model, version, label),
                                                 rows=_dense(rows))
        return _rows(self._call(self._inference.Reconstruct, request).reconstructions)

    def score(self, model, rows, version=None, label=None, feature_errors=False,
              metric="METRIC_UNSPECIFIED"):
        """The AnomalyScoreResponse: .metric, .threshold, and .scores[i].score /
        .is_anomaly / .percentile / .feature_errors for row i. metric: COMBINED
        (what METRIC_UNSPECIFIED means for current models), MEAN_SQUARED,
        MEAN_ABSOLUTE or CODE_DISTANCE."""
        request = service_pb2.AnomalyScoreRequest(
            model=_spec(model, version, label), rows=_dense(rows),
            options=service_pb2.ScoreOptions(metric=metric.upper(), feature_errors=feature_errors))
        return self._call(self._inference.AnomalyScore, request)

    def stream_scores(self, model, batches, version=None, label=None, feature_errors=False,
                      metric="METRIC_UNSPECIFIED"):
        """Scores an iterable of row batches on one stream; yields one
        AnomalyScoreResponse per batch, in order. metric as for score()."""
        def requests():
            first = True
            for batch in batches:
                request = service_pb2.AnomalyScoreRequest(
                    rows=_dense(batch),
                    options=service_pb2.ScoreOptions(metric=metric.upper(),
                                                     feature_errors=feature_errors))
                if first:
                    request.model.CopyFrom(_spec(model, version, label))
                    first = False
                yield request
        try:
            for response in self._inference.StreamAnomalyScore(requests(),
                                                               metadata=self._metadata):
                yield response
        except grpc.RpcError as e:
            raise StrataError(e.code(), e.details()) from None

    # ------------------------------------------------------------- training

    def train(self, model, rows, feature_names=(), config=None, labels=(), wait=True,
              on_progress=None):
        """Uploads `rows` and trains the next version of `model` on the server.

        config: a dict in TrainConfig's JSON form (see data/configs/*.json), a
        JSON string, a TrainConfig, or None for the defaults. With `wait`,
        follows the job (calling on_progress(job) on each update) and returns
        it ended; raises StrataError if it did not succeed.
        """
        spec = service_pb2.TrainJobSpec(model_name=model, config=_config(config),
                                        labels=list(labels), feature_names=list(feature_names))
        matrix = _dense(rows)
        chunk_rows = max(1, _CHUNK_VALUES // max(1, matrix.cols))

        def parts():
            yield service_pb2.UploadTrainJobRequest(spec=spec)
            for start in range(0, matrix.rows, chunk_rows):
                n = min(chunk_rows, matrix.rows - start)
                chunk = service_pb2.DenseMatrix(
                    rows=n, cols=matrix.cols,
                    values=matrix.values[start * matrix.cols:(start + n) * matrix.cols])
                yield service_pb2.UploadTrainJobRequest(chunk=chunk)

        job = self._call(self._training.UploadTrainJob, parts(), timeout=False)
        return self.wait(job.id, on_progress) if wait else job

    def submit_csv(self, model, csv_path, drop_columns=(), config=None, labels=(), wait=True,
                   on_progress=None):
        """Trains on a CSV under the server's --data_root (no upload)."""
        spec = service_pb2.TrainJobSpec(model_name=model, config=_config(config),
                                        labels=list(labels), drop_columns=list(drop_columns))
        job = self._call(self._training.SubmitTrainJob,
                         service_pb2.SubmitTrainJobRequest(spec=spec, csv_path=csv_path))
        return self.wait(job.id, on_progress) if wait else job

    def wait(self, job_id, on_progress=None):
        """Follows a job to its end; returns it if SUCCEEDED, else raises."""
        job = None
        try:
            for job in self._training.WatchTrainJob(service_pb2.GetTrainJobRequest(id=job_id),
                                                    metadata=self._metadata):
                if on_progress is not None:
                    on_progress(job)
        except grpc.RpcError as e:
            raise StrataError(e.code(), e.details()) from None
        if job is None or job.state != service_pb2.TrainJob.SUCCEEDED:
            state = service_pb2.TrainJob.State.Name(job.state) if job else "unknown"
            raise StrataError(grpc.StatusCode.ABORTED,
                              "job %s %s: %s" % (job_id, state, job.error if job else ""))
        return job

    def job(self, job_id):
        return self._call(self._training.GetTrainJob, service_pb2.GetTrainJobRequest(id=job_id))

    def cancel(self, job_id):
        return self._call(self._training.CancelTrainJob,
                          service_pb2.CancelTrainJobRequest(id=job_id))

    def jobs(self, model=""):
        return list(self._call(self._training.ListTrainJobs,
                               service_pb2.ListTrainJobsRequest(model_name=model)).jobs)

    # --------------------------------------------------------------- models

    def models(self):
        """{name: {"versions": [...], "labels": {label: version}}}."""
        response = self._call(self._models.ListModels, service_pb2.ListModelsRequest())
        return {m.name: {"versions": list(m.versions), "labels": dict(m.labels)}
                for m in response.models}

    def model(self, model, version=None, label=None):
        """GetModelResponse: architecture, scaler, features, calibration, history."""
        return self._call(self._models.GetModel,
                          service_pb2.GetModelRequest(model=_spec(model, version, label)))

    def set_label(self, model, label, version):
        """Points `label` at `version` (0 removes it); returns the model's labels."""
        request = service_pb2.SetLabelRequest(model_name=model, label=label, version=version)
        return dict(self._call(self._models.SetLabel, request).labels)

    def drift(self, model, version=None, label=None):
        """DriftFigures over the version's window: .features (most drifted
        first, each with .psi, .mean_shift), .drift_score, .anomaly_ratio."""
        request = service_pb2.DriftReportRequest(model=_spec(model, version, label))
        return self._call(self._models.DriftReport, request).figures

    def wait_until_ready(self, timeout=10.0):
        """Blocks until the channel connects; raises StrataError after `timeout` s."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise StrataError(grpc.StatusCode.UNAVAILABLE,
                              "no connection within %.0f s" % timeout) from None
        return self
