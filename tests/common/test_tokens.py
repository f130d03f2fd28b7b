import pytest

from cloudemy_common.tokens import submission_token, verify_result_token

MASTER = "change-me-master-token"
SID = "507f1f77bcf86cd799439011"
OTHER = "507f1f77bcf86cd799439012"


def test_known_answer_matches_openssl():
    # printf %s 507f1f77bcf86cd799439011 | openssl dgst -sha256 -hmac change-me-master-token
    assert submission_token(MASTER, SID) == "3b48e2589cd02aa6cbb0e92935e96d712bd855dbabe3ac10398ebdb50b184d06"


@pytest.mark.parametrize(
    ("presented", "ok"),
    [
        (MASTER, True),
        (submission_token(MASTER, SID), True),
        (submission_token(MASTER, OTHER), False),
        (submission_token("another-master", SID), False),
        ("", False),
        (None, False),
        ("wrong", False),
        (MASTER + " ", False),
        ("ü" * 10, False),
    ],
)
def test_verify_result_token(presented, ok):
    assert verify_result_token(MASTER, SID, presented) is ok


def test_empty_master_never_verifies():
    assert verify_result_token("", SID, "") is False
    assert verify_result_token("", SID, submission_token("", SID)) is False
