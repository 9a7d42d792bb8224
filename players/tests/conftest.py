# The real Celery worker and beat of the provider app's tests, for the loss-limit sweep.
from provider.tests.conftest import broker, worker  # noqa: F401
