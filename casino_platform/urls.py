from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from wallet.api.cashier_urls import feed_urlpatterns

from .health import health
from .metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/wallet/", include("wallet.api.urls")),
    path("api/v1/players/", include("players.api.urls")),
    path("api/v1/players/", include("wallet.api.cashier_urls")),
    path("api/v1/", include("sessions.api.urls")),
    path("api/v1/", include(feed_urlpatterns)),
    path("sandbox/", include("provider.sandbox.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "casino_platform.error_views.bad_request"
handler404 = "casino_platform.error_views.not_found"
handler500 = "casino_platform.error_views.server_error"
