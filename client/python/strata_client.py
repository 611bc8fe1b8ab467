"""A Python client for strata-server.

Installed as a package, with the message and gRPC stubs generated from
proto/ when it is built (protoc and grpc_python_plugin: Debian's
protobuf-compiler and protobuf-compiler-grpc); Debian's python3-grpcio and
python3-protobuf serve, offline too:

    pip install --no-build-isolation --no-index ./client/python

or, without installing, from the stubs the CMake build generates into
<build>/python next to a copy of this module (PYTHONPATH=build/python).

    >>> from strata_client import StrataClient
    >>> client = StrataClient("127.0.0.1:50051")
    >>> job = client.train("thyroid", rows, feature_names=names)  # a TrainJob
    >>> codes = client.encode("thyroid", rows)            # a list of lists
    >>> response = client.score("thyroid", rows, metric="mse")
    >>> response.threshold, response.scores[0].is_anomaly
    >>> for response in client.stream_scores("thyroid", batches): ...
    >>> client.predict("digits", rows).predictions[0].top_class  # with class_labels
    >>> client.score("thyroid", rows, columns=header, drop_columns=["label"])
    >>> job = client.train("thyroid", rows, sweep={"parameters": [
    ...     {"field": "encoder_widths", "values": [[16, 3], [16, 8, 3]]}]})
    >>> job.sweep.best_trial, job.version                 # the trial published
    >>> client.evaluate("thyroid", rows, labels)["auc"]  # as strata eval

Rows are sequences of sequences of real numbers (one inner sequence per
record) or 2-D arrays (numpy's, or anything with .ndim, .shape, .dtype).
Columns are taken by position, or by name when `columns` names them.
Rows that cannot be right raise ValueError before any RPC. Failed calls
raise StrataError with the gRPC status code and the server's message, which
names the row, column or field at fault.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Protocol,
                    Sequence, Tuple, Union)

import grpc
from google.protobuf import json_format

import strata_evaluation

try:
    from strata.v1 import model_pb2, service_pb2, service_pb2_grpc, train_config_pb2
except ImportError as e:
    raise ImportError(
        "strata_client needs its generated stubs (strata.v1, %s): pip install ./client/python "
        "builds them into the package (an editable install, pip install -e, has none), the "
        "CMake build into build/python (PYTHONPATH=build/python)" % e) from e

__all__ = ["StrataClient", "StrataError", "service_pb2"]


class Array2D(Protocol):
    """A 2-D array taken as rows (numpy's, say; numpy itself is not needed)."""
    ndim: int
    shape: Tuple[int, ...]
    dtype: Any


# Rows: one sequence of real numbers per record, or a 2-D array.
Rows = Union[Sequence[Sequence[float]], Array2D]
# A TrainConfig: its JSON form as a dict or a string, the message, or None
# for the defaults.
Config = Union[None, Mapping[str, Any], str, train_config_pb2.TrainConfig]
# A SweepSpec: its JSON form as a dict or a string (as `strata sweep --sweep`
# reads it), the message, or None for no sweep.
Sweep = Union[None, Mapping[str, Any], str, train_config_pb2.SweepSpec]
OnProgress = Optional[Callable[[service_pb2.TrainJob], None]]

# Values per upload chunk: about 1 MiB of floats.
_CHUNK_VALUES = 1 << 18
# Rows per evaluate() request, as `strata eval` sends them.
_EVAL_BATCH_ROWS = 4096


class StrataError(Exception):
    """A failed call: `code` is the grpc.StatusCode, args[0] the server's
    message, and str() "CODE: message"."""

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
    """Whether float() takes the value, and it is not complex."""
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


# As core/data/column_names.cc's LooksLikeLabelColumn.
_LABEL_LIKE = {"label", "labels", "class", "target", "y", "anomaly", "is_anomaly", "outlier",
               "is_outlier"}


def _by_name(matrix, columns, drop_columns, features, spec):
    """The matrix with `columns` (its columns' names) put in the order of
    `features` (the feature names of the version `spec` pins), without
    `drop_columns`, and the names set; a one-line ValueError that lists both
    sets of names when they are not the same."""
    columns = list(columns)
    drop_columns = [drop_columns] if isinstance(drop_columns, str) else list(drop_columns)
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
                   (["%s not in the model" % extra] if extra else []) + \
                   (["%s missing from the input" % missing] if missing else [])
        labels = [name for name in extra if name.strip("\ufeff \t").lower() in _LABEL_LIKE]
        hint = "; leave a label out with drop_columns=%s" % labels if labels else ""
        raise ValueError("columns do not match the features of %s version %d: input %s, "
                         "model %s: %s%s" % (spec.name, spec.version, kept, features,
                                             ", ".join(problems), hint))
    order = [columns.index(name) for name in features]
    values, c = matrix.values, matrix.cols
    reordered = service_pb2.DenseMatrix(rows=matrix.rows, cols=len(order),
                                        column_names=features)
    reordered.values.extend(itertools.chain.from_iterable(
        zip(*(values[k::c] for k in order))))
    return reordered


def _row_chunks(matrix, chunk_rows):
    """(first row, DenseMatrix) for each run of `chunk_rows` rows of
    `matrix`, in order, with its column names."""
    c = matrix.cols
    for start in range(0, matrix.rows, chunk_rows):
        n = min(chunk_rows, matrix.rows - start)
        yield start, service_pb2.DenseMatrix(rows=n, cols=c,
                                             values=matrix.values[start * c:(start + n) * c],
                                             column_names=matrix.column_names)


def _check_answered(sent, answered, first_row):
    """StrataError INTERNAL unless an answer has one row per row sent (the
    server misbehaved: no figure could be trusted)."""
    if sent != answered:
        raise StrataError(grpc.StatusCode.INTERNAL,
                          "the server answered %d rows for the %d rows from row %d"
                          % (answered, sent, first_row))


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


# The CLI's --metric names; the proto's names are accepted as well.
_METRICS = {"ensemble": "ENSEMBLE", "combined": "COMBINED", "mse": "MEAN_SQUARED",
            "mae": "MEAN_ABSOLUTE", "code": "CODE_DISTANCE"}


def _options(metric, feature_errors):
    """ScoreOptions for a metric name (see StrataClient.score) or None."""
    names = service_pb2.ScoreOptions.Metric.keys()
    name = "METRIC_UNSPECIFIED" if metric is None else str(metric)
    name = _METRICS.get(name.lower(), name.upper())
    if name not in names:
        raise ValueError("metric %r: use %s, or the proto's %s (any case)"
                         % (metric, ", ".join(_METRICS), ", ".join(names)))
    return service_pb2.ScoreOptions(metric=name, feature_errors=feature_errors)


def _class_label(value):
    """A class label as the wire carries it: "" for a missing one (None or
    NaN, as pandas marks it), an integral float as its integer (3.0 -> "3",
    so that 3 and 3.0 are one class), anything else as str()."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value != value:  # NaN
            return ""
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def _config(config: Config) -> train_config_pb2.TrainConfig:
    """A TrainConfig from None, a dict (the JSON form), a JSON string or a TrainConfig."""
    if config is None:
        return train_config_pb2.TrainConfig()
    if isinstance(config, train_config_pb2.TrainConfig):
        return config
    return _parse_json_form(config, train_config_pb2.TrainConfig(), "config")


def _sweep_spec(sweep: Sweep) -> Optional[train_config_pb2.SweepSpec]:
    """A SweepSpec from a dict (the JSON form that `strata sweep --sweep`
    reads), a JSON string or a SweepSpec; None for None. In a dict, each of
    a parameter's "values" is JSON text (a str, as in the CLI's file:
    "[16, 3]", "0.001", '"TANH"') or a Python value that json.dumps writes
    ([16, 3], 0.001, True); a str that is not JSON is a ValueError (an enum
    name is the JSON string '"TANH"')."""
    if sweep is None or isinstance(sweep, train_config_pb2.SweepSpec):
        return sweep
    if isinstance(sweep, str):
        sweep = _json_loads(sweep, "sweep")
    if isinstance(sweep, Mapping):
        sweep = dict(sweep)
        parameters = sweep.get("parameters")
        if isinstance(parameters, (list, tuple)):
            sweep["parameters"] = [_sweep_parameter(i, p) for i, p in enumerate(parameters)]
    return _parse_json_form(sweep, train_config_pb2.SweepSpec(), "sweep")


def _sweep_parameter(i, parameter):
    """A sweep parameter's dict with every value as JSON text."""
    if not isinstance(parameter, Mapping) or not isinstance(parameter.get("values"), (list, tuple)):
        return parameter
    values = []
    for v in parameter["values"]:
        if isinstance(v, str):
            try:
                json.loads(v)
            except ValueError:
                raise ValueError(
                    "sweep parameters[%d] (%s): the value %.40r is not JSON; a str is taken as "
                    "JSON text (write an enum or a string as '\"%s\"'), any other value is "
                    "sent as json.dumps writes it" % (i, parameter.get("field"), v, v)) from None
            values.append(v)
        else:
            values.append(json.dumps(v))
    return dict(parameter, values=values)


def _json_loads(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValueError("%s: not JSON: %s" % (what, e)) from None


def _parse_json_form(value, message, what):
    """`message` filled from `value`, a dict in its JSON form or a JSON
    string; a one-line ValueError naming `what` otherwise."""
    if isinstance(value, str):
        value = _json_loads(value, what)
    _refuse_empty_values(value, "", what)
    try:
        return json_format.ParseDict(_upper_enums(value, message.DESCRIPTOR), message)
    except json_format.ParseError as e:
        raise ValueError("%s: %s" % (what, e)) from None


def _refuse_empty_values(config, prefix, what="config"):
    """ValueError for a field given as None (at any depth) or, at the top,
    as []: protobuf reads either as left out, which would quietly pick the
    default; the CLI refuses the same (a nested [], such as
    supervised.class_names, means what leaving it out means)."""
    if not isinstance(config, dict):
        return
    for key, v in config.items():
        path = prefix + str(key)
        if v is None:
            raise ValueError("%s field %s: is None; leave the field out for its default"
                             % (what, path))
        if not prefix and isinstance(v, (list, tuple)) and len(v) == 0:
            raise ValueError("%s field %s: is an empty list; leave the field out for its default"
                             % (what, path))
        _refuse_empty_values(v, path + ".", what)


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

    def __init__(self, target: str = "127.0.0.1:50051", token: Optional[str] = None,
                 root_certificates: Optional[bytes] = None, timeout: float = 60.0,
                 max_message_bytes: int = 64 << 20) -> None:
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

    def close(self) -> None:
        """Closes the channel; returns None."""
        self._channel.close()

    def __enter__(self) -> StrataClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout=True):
        try:
            return method(request, timeout=self._timeout if timeout else None,
                          metadata=self._metadata)
        except grpc.RpcError as e:
            raise StrataError(e.code(), e.details()) from None

    # ------------------------------------------------------------ inference
    #
    # Rows are matched to the model's features by position, unless `columns`
    # names the rows' columns (a CSV header, say): then GetModel fetches the
    # feature names of the version `model`/`version`/`label` picks, the call
    # goes to that version, the columns are put in its order by name (leaving
    # out `drop_columns`) and the names travel with the rows for the server to
    # check. Bad rows and names that do not match raise ValueError before any
    # inference RPC.

    def encode(self, model: str, rows: Rows, layer: int = 0, version: Optional[int] = None,
               label: Optional[str] = None, columns: Optional[Sequence[str]] = None,
               drop_columns: Sequence[str] = ()) -> List[List[float]]:
        """The rows' features at encoder layer `layer` (1 = h1 ... depth; 0 =
        the code), as a list with one list of floats per row."""
        spec, matrix = self._inputs(_spec(model, version, label), rows, columns, drop_columns)
        request = service_pb2.EncodeRequest(model=spec, rows=matrix, layer=layer)
        return _rows(self._call(self._inference.Encode, request).features)

    def reconstruct(self, model: str, rows: Rows, version: Optional[int] = None,
                    label: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                    drop_columns: Sequence[str] = ()) -> List[List[float]]:
        """The rows' reconstructions in their original units, as a list with one
        list of floats per row, in the model's feature order."""
        spec, matrix = self._inputs(_spec(model, version, label), rows, columns, drop_columns)
        request = service_pb2.ReconstructRequest(model=spec, rows=matrix)
        return _rows(self._call(self._inference.Reconstruct, request).reconstructions)

    def score(self, model: str, rows: Rows, version: Optional[int] = None,
              label: Optional[str] = None, feature_errors: bool = False,
              metric: Optional[str] = None, columns: Optional[Sequence[str]] = None,
              drop_columns: Sequence[str] = ()) -> service_pb2.AnomalyScoreResponse:
        """The AnomalyScoreResponse: .model (the version that answered),
        .metric, .threshold, and .scores[i].score / .is_anomaly / .percentile /
        .feature_errors (in the model's feature order) for row i.

        metric: as the CLI's --metric, ensemble, combined, mse, mae or code,
        or the proto's name (ENSEMBLE, COMBINED, MEAN_SQUARED, MEAN_ABSOLUTE,
        CODE_DISTANCE), in any case; None (or METRIC_UNSPECIFIED) for the
        model's default, ENSEMBLE for current models."""
        options = _options(metric, feature_errors)
        spec, matrix = self._inputs(_spec(model, version, label), rows, columns, drop_columns)
        request = service_pb2.AnomalyScoreRequest(model=spec, rows=matrix, options=options)
        return self._call(self._inference.AnomalyScore, request)

    def stream_scores(self, model: str, batches: Iterable[Rows], version: Optional[int] = None,
                      label: Optional[str] = None, feature_errors: bool = False,
                      metric: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                      drop_columns: Sequence[str] = (), timeout: Optional[float] = None
                      ) -> Iterator[service_pb2.AnomalyScoreResponse]:
        """Scores an iterable of row batches on one stream: a generator of one
        AnomalyScoreResponse per batch, in order (see score()). A batch that
        fails the checks ends the stream: the responses for the batches before
        it come first, then its ValueError (or whatever exception `batches`
        raised). A failure at the server, which can only concern an earlier
        batch, raises StrataError with the server's code and message.

        timeout: seconds for the whole stream, after which it ends with
        StrataError DEADLINE_EXCEEDED. Default None: no deadline, since a
        stream of records may run for as long as they come (the client's
        own timeout is for unary calls)."""
        options = _options(metric, feature_errors)
        return self._stream(
            self._inference.StreamAnomalyScore, _spec(model, version, label), batches, columns,
            drop_columns, timeout,
            lambda spec, matrix: service_pb2.AnomalyScoreRequest(model=spec, rows=matrix,
                                                                 options=options))

    def predict(self, model: str, rows: Rows, version: Optional[int] = None,
                label: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                drop_columns: Sequence[str] = ()) -> service_pb2.PredictResponse:
        """The PredictResponse of a model trained with class labels: .model
        (the version that answered), .class_names, and for row i
        .predictions[i].top_class, .top_index and .probabilities (one per
        class, in class_names order). A model without a classifier head
        raises StrataError FAILED_PRECONDITION."""
        spec, matrix = self._inputs(_spec(model, version, label), rows, columns, drop_columns)
        request = service_pb2.PredictRequest(model=spec, rows=matrix)
        return self._call(self._inference.Predict, request)

    def stream_predictions(self, model: str, batches: Iterable[Rows],
                           version: Optional[int] = None, label: Optional[str] = None,
                           columns: Optional[Sequence[str]] = None,
                           drop_columns: Sequence[str] = (), timeout: Optional[float] = None
                           ) -> Iterator[service_pb2.PredictResponse]:
        """Predicts an iterable of row batches on one stream: a generator of
        one PredictResponse per batch, in order (see predict()), failing as
        stream_scores does."""
        return self._stream(
            self._inference.StreamPredict, _spec(model, version, label), batches, columns,
            drop_columns, timeout,
            lambda spec, matrix: service_pb2.PredictRequest(model=spec, rows=matrix))

    def _stream(self, rpc, spec, batches, columns, drop_columns, timeout, make_request):
        """The responses of a bidirectional stream `rpc`, one per batch, with
        make_request(spec or None, DenseMatrix) for each batch (the spec on
        the first only); see stream_scores() for how it fails."""
        spec, features = self._features(spec, columns, drop_columns)
        failed = []  # the exception that ended the requests, raised here instead of grpc's

        def requests():
            try:
                for i, batch in enumerate(batches):
                    try:
                        matrix = _dense(batch)
                        if features is not None:
                            matrix = _by_name(matrix, columns, drop_columns, features, spec)
                    except ValueError as e:
                        raise ValueError("batch %d: %s" % (i, e)) from None
                    yield make_request(spec if i == 0 else None, matrix)
            except Exception as e:  # grpc would only say "Exception iterating requests!"
                failed.append(e)

        # A failed batch ends the requests as if they were all sent, so an
        # RpcError is the server's, about an earlier batch: it comes first.
        try:
            for response in rpc(requests(), timeout=timeout, metadata=self._metadata):
                yield response
        except grpc.RpcError as e:
            raise StrataError(e.code(), e.details()) from None
        if failed:
            raise failed[0]

    def _features(self, spec, columns, drop_columns):
        """(spec, the model's feature names) for rows with named `columns`:
        the spec pinned to the version GetModel answered. (spec, None) without
        `columns`."""
        if columns is None:
            if drop_columns:
                raise ValueError("drop_columns=%r needs columns= (the rows' column names)"
                                 % (drop_columns,))
            return spec, None
        answer = self._call(self._models.GetModel, service_pb2.GetModelRequest(model=spec))
        pinned = service_pb2.ModelSpec(name=answer.model.name, version=answer.model.version)
        return pinned, list(answer.feature_names)

    def _inputs(self, spec, rows, columns, drop_columns):
        """(spec, DenseMatrix) for a unary call: the rows checked before any RPC,
        then, with `columns`, matched by name to the features of the version
        the spec is pinned to."""
        matrix = _dense(rows)
        spec, features = self._features(spec, columns, drop_columns)
        if features is not None:
            matrix = _by_name(matrix, columns, drop_columns, features, spec)
        return spec, matrix

    # ------------------------------------------------------------- training

    def train(self, model: str, rows: Rows, feature_names: Sequence[str] = (),
              config: Config = None, labels: Sequence[str] = (), wait: bool = True,
              on_progress: OnProgress = None, class_labels: Sequence[Any] = (),
              sweep: Sweep = None) -> service_pb2.TrainJob:
        """Uploads `rows` and trains the next version of `model` on the server;
        returns the TrainJob.

        feature_names: one name per column (default f0, f1, ...). config: a
        dict in TrainConfig's JSON form (see data/configs/*.json), a JSON
        string, a TrainConfig, or None for the defaults. labels: version
        labels (e.g. "stable") to point at the new version. class_labels:
        one class label per row ("" or None: unlabelled), to train a
        classifier head for predict() (config's "supervised" says how). With
        `wait`, follows the job (calling on_progress(job) on each update) and
        returns it SUCCEEDED, its .version the one published, or raises
        StrataError; without, returns it as queued.

        sweep: a hyperparameter sweep, as `strata sweep` runs it: a dict in
        SweepSpec's JSON form (proto/strata/v1/train_config.proto), e.g.
        {"parameters": [{"field": "encoder_widths", "values": [[16, 3],
        [16, 8, 3]]}]}, a JSON string or a SweepSpec. The job trains every
        trial of `config` with the fields the sweep varies and publishes the
        best; the TrainJob's .sweep (a SweepSummary) holds .objective,
        .trials (each with .trial, .settings, .state, .objective, .error)
        and .best_trial, the trial published as .version (job() and wait()
        give it too, while the sweep runs). A parameter's values are JSON
        text (a str, as in the CLI's file: "[16, 3]", '"TANH"') or Python
        values, sent as json.dumps writes them.
        """
        matrix = _dense(rows)
        feature_names = list(feature_names)
        if feature_names and len(feature_names) != matrix.cols:
            raise ValueError("%d feature_names for rows of %d columns: %s"
                             % (len(feature_names), matrix.cols, feature_names))
        class_labels = [_class_label(c) for c in class_labels]
        if class_labels and len(class_labels) != matrix.rows:
            raise ValueError("%d class_labels for %d rows; give one per row (\"\" for an "
                             "unlabelled row)" % (len(class_labels), matrix.rows))
        spec = service_pb2.TrainJobSpec(model_name=model, config=_config(config),
                                        labels=list(labels), feature_names=feature_names,
                                        class_labels=class_labels, sweep=_sweep_spec(sweep))
        chunk_rows = max(1, _CHUNK_VALUES // max(1, matrix.cols))

        def parts():
            yield service_pb2.UploadTrainJobRequest(spec=spec)
            for _, chunk in _row_chunks(matrix, chunk_rows):
                yield service_pb2.UploadTrainJobRequest(chunk=chunk)

        job = self._call(self._training.UploadTrainJob, parts(), timeout=False)
        return self.wait(job.id, on_progress) if wait else job

    _CSV_HEADERS = {"auto": service_pb2.TrainJobSpec.CSV_HEADER_DETECT,
                    "yes": service_pb2.TrainJobSpec.CSV_HEADER_PRESENT,
                    "no": service_pb2.TrainJobSpec.CSV_HEADER_ABSENT}

    def submit_csv(self, model: str, csv_path: str, drop_columns: Sequence[str] = (),
                   config: Config = None, labels: Sequence[str] = (), wait: bool = True,
                   on_progress: OnProgress = None, label_column: str = "",
                   header: str = "auto", sweep: Sweep = None) -> service_pb2.TrainJob:
        """Trains on CSV data under the server's --data_root (no upload): a
        file, a directory of shards or a glob, which may be larger than the
        server's memory (it trains from a row file on disk). Leaves out
        `drop_columns`, with class labels from `label_column` if named (one
        file, read into memory). `header` is "yes" when the files' first line
        names the columns, "no" when it is data, "auto" (default) to detect
        it: a first line of numbers only (pandas writes 0,1,2,... by default)
        then reads as data, so say "yes" for those. `sweep` as in train().
        Returns the TrainJob as train() does."""
        if header not in self._CSV_HEADERS:
            raise ValueError("header must be auto, yes or no, not %r" % (header,))
        spec = service_pb2.TrainJobSpec(model_name=model, config=_config(config),
                                        labels=list(labels), drop_columns=list(drop_columns),
                                        label_column=label_column,
                                        csv_header=self._CSV_HEADERS[header],
                                        sweep=_sweep_spec(sweep))
        job = self._call(self._training.SubmitTrainJob,
                         service_pb2.SubmitTrainJobRequest(spec=spec, csv_path=csv_path))
        return self.wait(job.id, on_progress) if wait else job

    def wait(self, job_id: str, on_progress: OnProgress = None) -> service_pb2.TrainJob:
        """Follows a job to its end: returns the TrainJob if it SUCCEEDED, else
        raises StrataError (ABORTED with the job's state and error)."""
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

    def job(self, job_id: str) -> service_pb2.TrainJob:
        """The TrainJob now: .state, .progress, and for a sweep .sweep, its
        trials so far (as `strata sweep --job ID` shows them)."""
        return self._call(self._training.GetTrainJob, service_pb2.GetTrainJobRequest(id=job_id))

    def cancel(self, job_id: str) -> service_pb2.TrainJob:
        """Asks the job to stop; returns the TrainJob as the server answered."""
        return self._call(self._training.CancelTrainJob,
                          service_pb2.CancelTrainJobRequest(id=job_id))

    def jobs(self, model: str = "") -> List[service_pb2.TrainJob]:
        """A list of TrainJob, newest first; only `model`'s when given."""
        return list(self._call(self._training.ListTrainJobs,
                               service_pb2.ListTrainJobsRequest(model_name=model)).jobs)

    # --------------------------------------------------------------- models

    def models(self) -> Dict[str, Dict[str, Any]]:
        """A dict {name: {"versions": [...], "labels": {label: version}}}."""
        response = self._call(self._models.ListModels, service_pb2.ListModelsRequest())
        return {m.name: {"versions": list(m.versions), "labels": dict(m.labels)}
                for m in response.models}

    def model(self, model: str, version: Optional[int] = None,
              label: Optional[str] = None) -> service_pb2.GetModelResponse:
        """The GetModelResponse: .model (the version that answered),
        .architecture, .scaler, .feature_names, .calibration, .config,
        .history, .summary, .labels, .drift_baseline."""
        return self._call(self._models.GetModel,
                          service_pb2.GetModelRequest(model=_spec(model, version, label)))

    def set_label(self, model: str, label: str, version: int) -> Dict[str, int]:
        """Points `label` at `version` (0 removes it); returns the model's
        labels afterwards as a dict {label: version}."""
        request = service_pb2.SetLabelRequest(model_name=model, label=label, version=version)
        return dict(self._call(self._models.SetLabel, request).labels)

    def drift(self, model: str, version: Optional[int] = None,
              label: Optional[str] = None) -> model_pb2.DriftFigures:
        """The DriftFigures over the version's window: .window_rows, .features
        (most drifted first, each with .name, .psi, .mean_shift,
        .out_of_range_ratio), .drift_score, .anomaly_ratio (by the score
        .anomaly_score names) and more. With no records seen (.window_rows
        0) there is no drift score: HasField("drift_score") is False, and
        .drift_score would read 0.0, which is not "stable"."""
        request = service_pb2.DriftReportRequest(model=_spec(model, version, label))
        return self._call(self._models.DriftReport, request).figures

    # ----------------------------------------------------------- evaluation

    def evaluate(self, model: str, rows: Rows, labels: Sequence[Any], task: str = "auto",
                 version: Optional[int] = None, label: Optional[str] = None,
                 columns: Optional[Sequence[str]] = None,
                 drop_columns: Sequence[str] = ()) -> Dict[str, Any]:
        """How the version does on labelled rows, as `strata eval` measures
        it; returns a dict of the figures.

        The server computes no figure: as the CLI does, this pins the
        version GetModel answers, sends the rows in batches of 4,096 to
        AnomalyScore (the model's default score, with per-feature errors)
        and, for task "head", to Predict, and computes here
        (strata_evaluation, the same arithmetic as core/scoring/
        evaluation.cc) from the answers. labels: one per row.

        task "anomaly": labels are 0/1 (1 = anomaly; numbers, bools or their
        text), one on every row. "head": labels are the class names of the
        version's classifier head (Predict); rows without one (None, NaN,
        "", NA, N/A, null, None) are skipped and counted. "auto" (default):
        "anomaly" for 0/1 labels. The CLI's third task, "classes" (a
        cross-validated linear probe on the codes against the raw features
        and PCA), is not computed here: `strata eval --task classes` does it.

        Every dict has "model", "version" (the one that answered), "task",
        "rows", "metric" (the score's name, e.g. "ensemble"), "threshold",
        "flagged" (rows above it), "mse" (the per-row reconstruction MSE in
        scaled units: a dict of "mean", "p50", "p95", "max"). "anomaly"
        adds "positives", "auc" (ROC-AUC), "average_precision", and
        "precision" and "recall" of the rows flagged. "head" adds
        "class_names", "labelled_rows", "unlabelled_rows", "accuracy",
        "confusion" (a list per true class of counts per predicted class),
        and "precision" and "recall" (lists, one per class; NaN where
        undefined). Bad rows, labels or task raise ValueError; a version
        without a head, for "head", StrataError FAILED_PRECONDITION.
        """
        matrix = _dense(rows)
        labels = list(labels)
        if len(labels) != matrix.rows:
            raise ValueError("%d labels for %d rows; give one per row" % (len(labels), matrix.rows))
        if task not in ("auto", "anomaly", "head"):
            raise ValueError("task must be auto, anomaly or head, not %r%s" % (
                task, "; the linear probe over class numbers is strata eval --task classes"
                if task == "classes" else ""))
        if columns is None and drop_columns:
            raise ValueError("drop_columns=%r needs columns= (the rows' column names)"
                             % (drop_columns,))
        y = None
        if task != "head":
            y = strata_evaluation.anomaly_labels(labels)
            classes = sorted(set(y))
            if classes[-1] > 1:
                raise ValueError(
                    "task %r needs 0/1 labels (1 = anomaly), and these hold %d classes %s: "
                    "task='head' measures a classifier head against its class names; the "
                    "linear probe over class numbers is strata eval --task classes"
                    % (task, len(classes), classes[:10]))
            if len(classes) < 2:
                raise ValueError("the labels hold one value only (%d): nothing to evaluate "
                                 "against" % classes[0])
            task = "anomaly"
        info = self.model(model, version, label)
        pinned = service_pb2.ModelSpec(name=info.model.name, version=info.model.version)
        if columns is not None:
            matrix = _by_name(matrix, columns, drop_columns, list(info.feature_names), pinned)
        class_names = list(info.class_names)
        if task == "head":
            if not class_names:
                raise StrataError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "task 'head' measures a classifier head, and %s version %d has "
                                  "none (it was trained without class labels)"
                                  % (pinned.name, pinned.version))
            y = strata_evaluation.head_labels(labels, class_names)
            if all(k == strata_evaluation.UNLABELLED for k in y):
                raise ValueError("none of the %d rows has a label" % len(y))
        scored, predicted = self._measure(pinned, matrix, len(class_names) if task == "head" else 0)
        out = {"model": pinned.name, "version": pinned.version, "task": task,
               "rows": matrix.rows, "metric": scored["metric"], "threshold": scored["threshold"],
               "flagged": sum(scored["flagged"]),
               "mse": strata_evaluation.mse_summary(scored["mse"])}
        if task == "anomaly":
            out.update(positives=sum(y), auc=strata_evaluation.roc_auc(scored["scores"], y),
                       average_precision=strata_evaluation.average_precision(scored["scores"], y),
                       **strata_evaluation.precision_recall_at(scored["flagged"], y))
        else:
            head = strata_evaluation.classifier_metrics(y, predicted, len(class_names))
            out.update(class_names=class_names, labelled_rows=head["rows"],
                       unlabelled_rows=y.count(strata_evaluation.UNLABELLED),
                       accuracy=head["accuracy"], confusion=head["confusion"],
                       precision=head["precision"], recall=head["recall"])
        return out

    def _measure(self, spec, matrix, head_classes):
        """What evaluate() needs of every row, in batches: ({"scores",
        "flagged", "mse": one per row; "metric", "threshold"}, the classes
        the head predicts, or [] when `head_classes` is 0). StrataError
        INTERNAL when an answer has not one row per row sent."""
        scored = {"scores": [], "flagged": [], "mse": [], "metric": "", "threshold": math.nan}
        predicted = []
        options = service_pb2.ScoreOptions(feature_errors=True)
        for start, batch in _row_chunks(matrix, _EVAL_BATCH_ROWS):
            answer = self._call(self._inference.AnomalyScore, service_pb2.AnomalyScoreRequest(
                model=spec, rows=batch, options=options))
            _check_answered(batch.rows, len(answer.scores), start)
            scored["metric"] = service_pb2.ScoreOptions.Metric.Name(answer.metric).lower()
            scored["threshold"] = answer.threshold
            for s in answer.scores:
                scored["scores"].append(s.score)
                scored["flagged"].append(s.is_anomaly)
                scored["mse"].append(sum(s.feature_errors) / len(s.feature_errors))
            if head_classes:
                answer = self._call(self._inference.Predict,
                                    service_pb2.PredictRequest(model=spec, rows=batch))
                _check_answered(batch.rows, len(answer.predictions), start)
                for p in answer.predictions:
                    if not 0 <= p.top_index < head_classes:
                        raise StrataError(grpc.StatusCode.INTERNAL,
                                          "the server answered class %d of a head with %d "
                                          "classes" % (p.top_index, head_classes))
                    predicted.append(p.top_index)
        return scored, predicted

    def wait_until_ready(self, timeout: float = 10.0) -> StrataClient:
        """Blocks until the channel connects and returns this StrataClient; raises
        StrataError (UNAVAILABLE) after `timeout` s."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise StrataError(grpc.StatusCode.UNAVAILABLE,
                              "no connection within %.0f s" % timeout) from None
        return self
