import json
import logging

from weatherstream.hub import Hub, Prepared


class Recorder:
    """A subscriber that keeps what it was pushed."""

    def __init__(self):
        self.pushed = []

    def push(self, text, prepared=None):
        self.pushed.append((text, prepared))


def test_add_says_whether_it_is_the_locations_first_subscriber():
    hub, a, b = Hub(), Recorder(), Recorder()
    assert hub.add("berlin", a) is True
    assert hub.add("berlin", b) is False
    assert hub.add("berlin", a) is False  # again: still one entry for a
    assert hub.add("paris", a) is True
    assert hub.count("berlin") == 2 and hub.count("paris") == 1 and hub.count("rome") == 0
    assert hub.locations() == ["berlin", "paris"]


def test_discard_says_whether_the_location_has_no_subscriber_left():
    hub, a, b = Hub(), Recorder(), Recorder()
    hub.add("berlin", a)
    hub.add("berlin", b)
    assert hub.discard("berlin", a) is False
    assert hub.count("berlin") == 1 and hub.locations() == ["berlin"]
    assert hub.discard("berlin", a) is False  # not (any longer) a subscriber: nothing changes
    assert hub.count("berlin") == 1
    assert hub.discard("berlin", b) is True
    assert hub.count("berlin") == 0 and hub.locations() == []
    assert hub.discard("berlin", b) is False  # the location is gone
    assert hub.discard("nowhere", a) is False


def test_broadcast_sends_one_weather_frame_to_each_subscriber_of_the_location(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1795500000.5)
    hub, a, b, other = Hub(), Recorder(), Recorder(), Recorder()
    hub.add("berlin", a)
    hub.add("berlin", b)
    hub.add("paris", other)
    assert hub.broadcast("berlin", '{"temperature":17.7}') == 2
    assert len(a.pushed) == len(b.pushed) == 1 and other.pushed == []
    (text, prepared), (text_b, prepared_b) = a.pushed[0], b.pushed[0]
    assert json.loads(text) == {
        "type": "weather",
        "location": "berlin",
        "weather": {"temperature": 17.7},
        "published_at": 1795500000.5,
    }
    assert text_b is text and prepared_b is prepared  # serialized and encoded once
    assert isinstance(prepared, Prepared) and prepared.encoded == text.encode()


def test_broadcast_to_a_location_without_subscribers_sends_nothing():
    hub, a = Hub(), Recorder()
    assert hub.broadcast("berlin", "{}") == 0
    hub.add("berlin", a)
    hub.discard("berlin", a)
    assert hub.broadcast("berlin", "{}") == 0 and a.pushed == []


def test_a_failing_subscriber_does_not_cost_the_others_their_update(caplog):
    class Broken:
        def push(self, text, prepared=None):
            raise RuntimeError("bug")

    hub, before, after = Hub(), Recorder(), Recorder()
    hub.add("berlin", before)
    hub.add("berlin", Broken())
    hub.add("berlin", after)
    with caplog.at_level(logging.ERROR, logger="weatherstream.hub"):
        assert hub.broadcast("berlin", "{}") == 3
    assert len(before.pushed) == len(after.pushed) == 1
    [record] = caplog.records
    assert record.exc_info and record.exc_info[0] is RuntimeError


def test_a_subscriber_leaving_during_the_broadcast_does_not_break_it():
    hub = Hub()

    class Leaving(Recorder):
        def push(self, text, prepared=None):
            super().push(text, prepared)
            hub.discard("berlin", self)  # e.g. a slow client closed on a full outbox

    leaving, staying = Leaving(), Recorder()
    hub.add("berlin", leaving)
    hub.add("berlin", staying)
    assert hub.broadcast("berlin", "{}") == 2
    assert len(leaving.pushed) == len(staying.pushed) == 1
    assert hub.count("berlin") == 1


# Hub.send (issue 15): a frame made once (a forecast's), to every subscriber of a key.

FRAME = '{"type":"forecast","location":"berlin","kind":"hourly"}'


def test_send_pushes_the_same_text_as_it_is_to_each_subscriber_of_the_key():
    hub, a, b, other = Hub(), Recorder(), Recorder(), Recorder()
    hub.add("hourly:berlin", a)
    hub.add("hourly:berlin", b)
    hub.add("daily:berlin", other)
    hub.add("berlin", other)
    assert hub.send("hourly:berlin", FRAME) == 2
    assert len(a.pushed) == len(b.pushed) == 1 and other.pushed == []
    (text, prepared), (text_b, prepared_b) = a.pushed[0], b.pushed[0]
    assert text is FRAME and text_b is FRAME  # not wrapped, nor serialized again
    assert prepared_b is prepared  # encoded once for all
    assert isinstance(prepared, Prepared) and prepared.encoded == FRAME.encode()


def test_send_to_a_key_without_subscribers_sends_nothing():
    hub, a = Hub(), Recorder()
    assert hub.send("hourly:berlin", FRAME) == 0
    hub.add("hourly:berlin", a)
    hub.discard("hourly:berlin", a)
    assert hub.send("hourly:berlin", FRAME) == 0 and a.pushed == []
    assert hub.locations() == []


def test_a_failing_subscriber_does_not_cost_the_others_their_frame(caplog):
    class Broken:
        def push(self, text, prepared=None):
            raise RuntimeError("bug")

    hub, before, after = Hub(), Recorder(), Recorder()
    hub.add("daily:berlin", before)
    hub.add("daily:berlin", Broken())
    hub.add("daily:berlin", after)
    with caplog.at_level(logging.ERROR, logger="weatherstream.hub"):
        assert hub.send("daily:berlin", FRAME) == 3
    assert before.pushed[0][0] is FRAME and after.pushed[0][0] is FRAME
    [record] = caplog.records
    assert record.exc_info and record.exc_info[0] is RuntimeError


def test_a_subscriber_leaving_during_a_send_does_not_break_it():
    hub = Hub()

    class Leaving(Recorder):
        def push(self, text, prepared=None):
            super().push(text, prepared)
            hub.discard("hourly:berlin", self)

    leaving, staying = Leaving(), Recorder()
    hub.add("hourly:berlin", leaving)
    hub.add("hourly:berlin", staying)
    assert hub.send("hourly:berlin", FRAME) == 2
    assert len(leaving.pushed) == len(staying.pushed) == 1
    assert hub.count("hourly:berlin") == 1
