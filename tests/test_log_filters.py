"""The token-redacting logging filter (tethys_compute/log_filters.py)."""

import logging

import pytest

from tethys_compute.log_filters import RedactStatusTokens, redact

TOKEN = "IjEyIg:1xXctP:KH-jCWpBlC2ZwK3CD2JzruLHp62OU7l6_Tq62LVeQnw"


@pytest.mark.parametrize("text, expected", [
    (f'"GET /report-job-status/12/?token={TOKEN}&status=RUN HTTP/1.1" 200',
     '"GET /report-job-status/12/?token=[redacted]&status=RUN HTTP/1.1" 200'),
    (f"/report-job-status/12/?status=RUN&token={TOKEN}",
     "/report-job-status/12/?status=RUN&token=[redacted]"),
    (f"token={TOKEN}", "token=[redacted]"),
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [redacted]"),
    ("GET /update-job-status/12/?delay=5", "GET /update-job-status/12/?delay=5"),
    ("the tokenizer=abc stays", "the tokenizer=abc stays"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_filter_rewrites_the_formatted_message_and_keeps_the_record(caplog):
    logger = logging.getLogger("tests.redact")
    logger.addFilter(RedactStatusTokens())
    try:
        with caplog.at_level(logging.INFO, logger="tests.redact"):
            logger.info('"%s" %s %s', f"GET /report-job-status/1/?token={TOKEN} HTTP/1.1",
                        "200", "84")
            logger.info("nothing secret in %s", "here")
    finally:
        logger.filters.clear()
    assert [r.getMessage() for r in caplog.records] == [
        '"GET /report-job-status/1/?token=[redacted] HTTP/1.1" 200 84',
        "nothing secret in here",
    ]
    assert TOKEN not in caplog.text
