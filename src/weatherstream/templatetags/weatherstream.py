"""``{% load weatherstream %}{% weather_widget "Berlin" %}``: a live weather widget.

The widget is one ``<span>``, so it sits inside a sentence (``<p>Berlin now: {% weather_widget
"Berlin" %}</p>``). Its stylesheet and script come once per page, before the first widget,
however many widgets there are; they share one WebSocket (the page's client module).
``forecast=True`` adds a "next hours" line (the next 6 hours: time, icon, temperature)
that follows the place's hourly forecast; without it the widget asks for no forecast.
``{% weather_widget station="st-1a2b3c4d5e6f" %}`` shows a registered weather station's
uploads instead of a city's weather (its forecast, with ``forecast=True``, is for its
coordinates).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string

from weatherstream.places import is_station

register = template.Library()

UNITS = ("C", "F")
MAX_STATION_ID_LENGTH = 64  # the protocol's limit on an id
_ASSETS_SENT = "_weatherstream_widget_assets"


def _first_on_page(context: template.Context) -> bool:
    """True once per page: per request when the template has one, else per context."""
    holder: Any = context.get("request")
    if holder is not None:
        first = not getattr(holder, _ASSETS_SENT, False)
        setattr(holder, _ASSETS_SENT, True)
        return first
    root = context.dicts[0]
    first = not root.get(_ASSETS_SENT, False)
    root[_ASSETS_SENT] = True
    return first


@register.simple_tag(takes_context=True)
def weather_widget(
    context: template.Context,
    city: str | None = None,
    units: str | None = None,
    ws_path: str = "/ws/weather/",
    forecast: bool = False,
    station: str | None = None,
) -> str:
    """``city`` (the first argument) or ``station`` (a registered station's id), one of
    them. ``units``: "C" or "F"; by default the units the page remembered, else °C.
    ``forecast``: True for the "next hours" line."""
    if (city is None) == (station is None):
        raise template.TemplateSyntaxError("weather_widget: give a city or station=<station id>, one of them")
    if station is not None:
        station = station.strip().lower() if isinstance(station, str) else ""
        well_formed = len(station) <= MAX_STATION_ID_LENGTH and not any(c.isspace() for c in station)
        if not (is_station(station) and well_formed):
            raise template.TemplateSyntaxError(
                f"weather_widget: station must be a station id such as 'st-1a2b3c4d5e6f', not {station!r}"
            )
    if units is not None and units not in UNITS:
        raise template.TemplateSyntaxError(f"weather_widget: units must be 'C' or 'F', not {units!r}")
    if not isinstance(forecast, bool):
        raise template.TemplateSyntaxError(f"weather_widget: forecast must be True or False: {forecast!r}")
    return render_to_string(
        "weatherstream/widget.html",
        {
            "city": city,
            "station": station,
            "units": units or "",
            "ws_path": ws_path,
            "forecast": forecast,
            "assets": _first_on_page(context),
        },
    )
