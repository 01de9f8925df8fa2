"""``{% load weatherstream %}{% weather_widget "Berlin" %}``: a live weather widget.

The widget is one ``<span>``, so it sits inside a sentence (``<p>Berlin now: {% weather_widget
"Berlin" %}</p>``). Its stylesheet and script come once per page, before the first widget,
however many widgets there are; they share one WebSocket (the page's client module).
``forecast=True`` adds a "next hours" line (the next 6 hours: time, icon, temperature)
that follows the place's hourly forecast; without it the widget asks for no forecast.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string

register = template.Library()

UNITS = ("C", "F")
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
    city: str,
    units: str | None = None,
    ws_path: str = "/ws/weather/",
    forecast: bool = False,
) -> str:
    """``units``: "C" or "F"; by default the units the page remembered, else °C.
    ``forecast``: True for the "next hours" line."""
    if units is not None and units not in UNITS:
        raise template.TemplateSyntaxError(f"weather_widget: units must be 'C' or 'F', not {units!r}")
    if not isinstance(forecast, bool):
        raise template.TemplateSyntaxError(f"weather_widget: forecast must be True or False: {forecast!r}")
    return render_to_string(
        "weatherstream/widget.html",
        {
            "city": city,
            "units": units or "",
            "ws_path": ws_path,
            "forecast": forecast,
            "assets": _first_on_page(context),
        },
    )
