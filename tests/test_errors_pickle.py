"""Every error type crosses a process boundary whole: a corpus run's workers send each
file's error (an :class:`~minis2t.errors.ErrorText`, or the exception itself) to the
client by pickle, and a type that does not round-trip turns every file's error into an
internal error. Each type is found by walking ``MiniS2TError``'s subclasses, so a new one
is covered without a line here."""

from __future__ import annotations

import pickle

import pytest

from minis2t import errors


def every_error_type() -> list[type]:
    found, todo = [], [errors.MiniS2TError]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def test_the_walk_finds_the_known_kinds():
    names = {c.__name__ for c in every_error_type()}
    assert {"MiniS2TError", "ConfigError", "AudioTooLongError", "UsageError", "OnnxModelError"} <= names


@pytest.mark.parametrize("cls", every_error_type(), ids=lambda c: c.__name__)
def test_every_error_type_round_trips_through_pickle(cls):
    error = cls("config field 'd_model' must be a positive integer, got 0")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls and str(back) == str(error) and back.args == error.args
    text = errors.guarded(lambda: (_ for _ in ()).throw(error))[1]
    assert text.kind == cls.__name__
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(text, protocol=protocol))
        assert type(again) is errors.ErrorText and again == str(error) and again.kind == cls.__name__


@pytest.mark.parametrize("raised, kind", [(MemoryError(), "MemoryError"), (TypeError("x"), "InternalError")])
def test_the_other_texts_of_guarded_round_trip(raised, kind):
    def fail():
        raise raised

    text = errors.guarded(fail)[1]
    back = pickle.loads(pickle.dumps(text))
    assert (type(back), str(back), back.kind) == (errors.ErrorText, str(text), kind)


def _fail_with(name: str):
    from minis2t import errors as e

    return e.guarded(lambda: (_ for _ in ()).throw(getattr(e, name)(f"{name} on the worker")))[1]


def test_error_texts_cross_a_real_dask_worker_process():
    """What a corpus run does: the worker's ErrorText comes back to the client by pickle."""
    pytest.importorskip("distributed")
    from minis2t.app import corpus

    client, cluster = corpus.connect(workers=1)  # the corpus run's own cluster (it keeps our environment)
    with cluster, client:
        names = ["ConfigError", "AudioFileError", "UsageError"]
        got = client.gather([client.submit(_fail_with, n, pure=False) for n in names])
    for name, text in zip(names, got):
        assert (type(text), str(text), text.kind) == (errors.ErrorText, f"{name} on the worker", name)
