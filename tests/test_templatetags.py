"""{% weather_widget %}: inline markup, its assets once per page, units."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory

BLOCK = {"div", "p", "section", "ul", "table", "form", "h1", "h2"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def render(source: str, **context) -> str:
    return Template("{% load weatherstream %}" + source).render(Context(context))


def test_a_widget_is_inline_markup_that_fits_in_a_sentence():
    html = render('<p>Berlin right now: {% weather_widget "Berlin" %}.</p>')
    parser = Tags()
    parser.feed(html)
    # Nothing that would close the paragraph: only phrasing content inside it.
    assert not BLOCK & set(parser.tags[1:]), parser.tags
    assert html.count('<span class="weatherstream-widget"') == 1
    assert 'data-city="Berlin"' in html


def test_the_stylesheet_and_script_come_once_per_page():
    html = render('{% weather_widget "Berlin" %} {% weather_widget "Paris" %} {% weather_widget "Oslo" %}')
    assert html.count("widget.css") == 1 and html.count("widget.js") == 1
    assert html.count("data-weatherstream-widget") == 3
    # The assets come before the first widget.
    assert html.index("widget.js") < html.index("data-weatherstream-widget")


def test_once_per_request_across_included_fragments():
    request = RequestFactory().get("/")
    first = render('{% weather_widget "Berlin" %}', request=request)
    second = render('{% weather_widget "Paris" %}', request=request)
    assert "widget.js" in first and "widget.js" not in second
    assert "widget.js" in render('{% weather_widget "Paris" %}', request=RequestFactory().get("/"))


def test_units_are_an_argument_or_the_pages_choice():
    assert 'data-units="F"' in render('{% weather_widget "Berlin" units="F" %}')
    assert "data-units" not in render('{% weather_widget "Berlin" %}')
    with pytest.raises(TemplateSyntaxError, match="units"):
        render('{% weather_widget "Berlin" units="K" %}')


def test_the_city_is_escaped():
    html = render("{% weather_widget city %}", city='<script>alert(1)</script>"')
    assert "<script>alert" not in html
    assert re.search(r'data-city="&lt;script&gt;alert\(1\)&lt;/script&gt;&quot;"', html)


def test_forecast_true_adds_the_next_hours_line_inline():
    html = render('<p>Berlin: {% weather_widget "Berlin" forecast=True %}.</p>')
    parser = Tags()
    parser.feed(html)
    assert not BLOCK & set(parser.tags[1:]), parser.tags  # still fits in a sentence
    assert 'data-forecast="hourly"' in html
    assert html.count('class="weatherstream-widget__hours"') == 1
    # the line sits inside the widget, hidden until a forecast arrives
    assert re.search(r'<span class="weatherstream-widget__hours"[^>]* hidden></span></span>\s*\.</p>$', html)


def test_without_forecast_the_widget_asks_for_none():
    for source in ('{% weather_widget "Berlin" %}', '{% weather_widget "Berlin" forecast=False %}'):
        html = render(source)
        assert "data-forecast" not in html and "__hours" not in html, html
    with pytest.raises(TemplateSyntaxError, match="forecast"):
        render('{% weather_widget "Berlin" forecast="yes" %}')


def test_a_station_widget_names_the_station_not_a_city():
    html = render('<p>The garden: {% weather_widget station="st-1A2b3c4d5e6f" forecast=True %}.</p>')
    parser = Tags()
    parser.feed(html)
    assert not BLOCK & set(parser.tags[1:]), parser.tags  # fits in a sentence like any widget
    assert 'data-station="st-1a2b3c4d5e6f"' in html  # widget.js subscribes {station: id}
    assert "data-city" not in html
    assert 'aria-label="Live weather: weather station st-1a2b3c4d5e6f"' in html
    assert 'data-forecast="hourly"' in html
    assert render("{% weather_widget station=sid %}", sid="st-000000000001").count("data-station=") == 1


def test_a_station_widget_needs_a_station_id_and_no_city():
    for source in (
        '{% weather_widget station="Garden" %}',
        '{% weather_widget station="" %}',
        '{% weather_widget station="st-1 2" %}',
        '{% weather_widget "Berlin" station="st-1a2b3c4d5e6f" %}',
        "{% weather_widget %}",
    ):
        with pytest.raises(TemplateSyntaxError, match="station"):
            render(source)
