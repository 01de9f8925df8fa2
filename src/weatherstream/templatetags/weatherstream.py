"""``{% load weatherstream %}{% weather_widget "Berlin" %}``: a live weather widget.

Every widget on a page shares one WebSocket (the page's client module, loaded once).
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("weatherstream/widget.html")
def weather_widget(city: str, ws_path: str = "/ws/weather/") -> dict[str, Any]:
    return {"city": city, "ws_path": ws_path}
