from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from vidgate.exceptions import ContentRejected, MissingCredentials, OutputMismatch, VidgateError
from vidgate.types import JobStatus, Mode, VideoRequest, new_id


def test_request_normalizes_aspect_and_resolution() -> None:
    request = VideoRequest(prompt="a fox", aspect_ratio=" 09:16 ", resolution="4K")
    assert request.aspect_ratio == "9:16"
    assert request.resolution == "2160p"
    assert request.aspect_value == pytest.approx(9 / 16)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("aspect_ratio", "wide", "16:9"),
        ("aspect_ratio", "0:9", "16:9"),
        ("resolution", "hd-ready", "720p"),
        ("prompt", "   ", "blank"),
        ("duration", -1, "greater than 0"),
    ],
)
def test_request_rejects_bad_input_with_a_readable_reason(
    field: str, value: object, words: str
) -> None:
    fields: dict[str, object] = {"prompt": "a fox", field: value}
    with pytest.raises(ValidationError) as caught:
        VideoRequest.model_validate(fields)
    assert words in str(caught.value)


def test_request_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        VideoRequest.model_validate({"prompt": "x", "durration": 4})


def test_mode_follows_inputs() -> None:
    assert VideoRequest(prompt="x").mode is Mode.TEXT_TO_VIDEO
    assert VideoRequest(prompt="x", image="a.png").mode is Mode.IMAGE_TO_VIDEO
    assert VideoRequest(prompt="x", image="a.png", last_frame="b.png").mode is Mode.KEYFRAMES
    assert VideoRequest(prompt="x", last_frame="b.png").mode is Mode.KEYFRAMES
    assert VideoRequest(prompt="x", video="v.mp4").mode is Mode.EXTENSION
    with pytest.raises(ValidationError, match="not both"):
        VideoRequest(prompt="x", video="v.mp4", image="a.png")


def test_ids_are_opaque_and_unguessable() -> None:
    ids = {new_id("job") for _ in range(1000)}
    assert len(ids) == 1000
    sample = next(iter(ids))
    assert sample.startswith("job_")
    assert len(sample) == len("job_") + 26  # 128 bits in base32


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.terminal} == {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
    }


def test_errors_pickle_with_their_fields() -> None:
    # Errors cross DBOS step boundaries as pickles; they must come back whole.
    errors: list[VidgateError] = [
        MissingCredentials("runway", ["RUNWAYML_API_SECRET"]),
        ContentRejected("no", provider="luma", stage="output", charged=True, status_code=400),
        OutputMismatch(["duration is 2.00 s, asked for 4.00 s"]),
    ]
    for error in errors:
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error)
        assert clone.to_dict() == error.to_dict()
    rejected = pickle.loads(pickle.dumps(errors[1]))
    assert isinstance(rejected, ContentRejected)
    assert rejected.stage == "output" and rejected.charged and rejected.provider == "luma"


def test_missing_credentials_names_the_variable() -> None:
    error = MissingCredentials("runway", ["RUNWAYML_API_SECRET"])
    assert "RUNWAYML_API_SECRET" in str(error)
    assert error.to_dict()["code"] == "missing_credentials"
    assert error.outcome == "operator_action"
