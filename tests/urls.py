from django.urls import include, path

urlpatterns = [path("", include("weatherstream.urls"))]
