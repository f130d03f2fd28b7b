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


def test_attempt_token_is_bound_to_submission_attempt_and_expiry() -> None:
    from cloudemy_common.tokens import ResultGrant, attempt_token, result_grant

    expires = 2_000_000_000
    token = attempt_token(MASTER, SID, 2, expires)
    assert result_grant(MASTER, SID, token, now=expires - 1) == ResultGrant("attempt", 2, expires)
    assert result_grant(MASTER, SID, token, now=expires) is None, "expired"
    assert result_grant(MASTER, OTHER, token, now=0) is None, "another submission's"
    assert result_grant("another-master", SID, token, now=0) is None
    prefix, attempt, when, mac = token.split(".")
    forged = [
        f"{prefix}.3.{when}.{mac}",  # another attempt, same MAC
        f"{prefix}.{attempt}.{int(when) + 3600}.{mac}",  # a later expiry, same MAC
        f"{prefix}.{attempt}.{when}.{mac[:-1]}0",
        f"a2.{attempt}.{when}.{mac}",
        f"{prefix}.-1.{when}.{mac}",
        f"{prefix}.{attempt}.{when}",
        token + ".x",
        "a1." * 100,
    ]
    assert [result_grant(MASTER, SID, f, now=0) for f in forged] == [None] * len(forged)
    assert ResultGrant("attempt", 2, expires).allows_attempt(2)
    assert not ResultGrant("attempt", 2, expires).allows_attempt(3)
    assert ResultGrant("master").allows_attempt(3)
