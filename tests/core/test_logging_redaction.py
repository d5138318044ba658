import logging

from bot.logging_setup import REDACTED, RedactTokenFilter

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"


def test_token_is_redacted_in_message_args_and_tracebacks() -> None:
    token_filter = RedactTokenFilter(FAKE_TOKEN)
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "token=%s", (FAKE_TOKEN,), None)
    token_filter.filter(record)
    assert FAKE_TOKEN not in record.getMessage()
    assert REDACTED in record.getMessage()
    try:
        raise RuntimeError(f"bad {FAKE_TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    token_filter.filter(record)
    assert record.exc_text is not None and FAKE_TOKEN not in record.exc_text


def test_token_shaped_strings_are_redacted_even_if_not_configured() -> None:
    token_filter = RedactTokenFilter(None)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"Bot {FAKE_TOKEN}", None, None)
    token_filter.filter(record)
    assert FAKE_TOKEN not in record.getMessage()
