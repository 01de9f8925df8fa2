"""Counts of watchers and their coalesced frames (weatherstream.watchers)."""

import json

from weatherstream.hub import Hub
from weatherstream.watchers import Watchers


class Inbox:
    def __init__(self):
        self.frames = []

    def push(self, text, prepared=None):
        self.frames.append(json.loads(text))


def test_a_burst_of_subscribers_is_one_frame_each_at_the_next_flush():
    hub = Hub()
    watchers = Watchers(hub)
    inboxes = [Inbox() for _ in range(100)]
    for inbox in inboxes:
        hub.add("p", inbox)
        watchers.touch("p")
    assert all(inbox.frames == [] for inbox in inboxes), "nothing before the flush"
    assert watchers.flush() == 100
    assert all(inbox.frames == [{"type": "watchers", "location": "p", "count": 100}] for inbox in inboxes)
    assert watchers.flush() == 0, "nothing changed"
    hub.discard("p", inboxes[0])
    hub.add("p", Inbox())
    watchers.touch("p")
    assert watchers.flush() == 0, "one left, one came: the same count is not sent again"
    hub.discard("p", inboxes[1])
    watchers.touch("p")
    assert watchers.flush() == 99
    assert inboxes[2].frames[-1]["count"] == 99


def test_the_other_processes_shares_are_added_to_this_ones_own_count():
    hub = Hub()
    watchers = Watchers(hub)
    inbox = Inbox()
    hub.add("p", inbox)
    watchers.told("p", {"me": 7, "other": 3, "third": 2}, me="me")  # my share as announced: stale
    assert watchers.count("p") == 1 + 3 + 2
    watchers.flush()
    assert inbox.frames == [{"type": "watchers", "location": "p", "count": 6}]
    watchers.told("p", {"me": 1}, me="me")  # the others left
    assert watchers.count("p") == 1
    watchers.flush()
    assert inbox.frames[-1]["count"] == 1


def test_a_place_without_subscribers_here_is_sent_nothing_and_forgotten():
    hub = Hub()
    watchers = Watchers(hub)
    watchers.told("p", {"other": 4}, me="me")
    assert watchers.flush() == 0
    watchers.forget("p")
    assert watchers.count("p") == 0 and watchers.others == {} and watchers.sent == {}
