import json
import logging

from weatherstream.logs import JsonFormatter, KeyValueFormatter


def record(msg, *args, exc=None, **extra):
    rec = logging.LogRecord("weatherstream.poller", logging.WARNING, __file__, 1, msg, args, exc)
    rec.__dict__.update(extra)
    return rec


def test_json_is_one_object_per_line_with_extras_and_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        exc = sys.exc_info()
    line = JsonFormatter().format(
        record("fetch of %d location(s) failed: %s", 2, "HTTP 503", exc=exc, batch=2)
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "weatherstream.poller"
    assert data["message"] == "fetch of 2 location(s) failed: HTTP 503"
    assert data["batch"] == 2 and "ValueError: boom" in data["error"]


def test_key_value_quotes_what_needs_it_and_stays_on_one_line():
    line = KeyValueFormatter().format(record('said "hi"\nthen left', where="Paris, FR", n=3))
    assert "\n" not in line
    assert 'message="said \\"hi\\"\\nthen left"' in line
    assert 'where="Paris, FR"' in line and " n=3" in line and "level=warning" in line
