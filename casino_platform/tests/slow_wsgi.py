"""bin/serve's app for test_serve: the platform's own, but slow to finish loading, so that a
stop can be sent while the workers are still loading it. Each worker leaves a file named by
its pid in SLOW_WSGI_MARKS once the platform's module is loaded, and sleeps after that."""

import os
import time
from pathlib import Path

from casino_platform.wsgi import application  # noqa: F401 - what bin/serve serves

(Path(os.environ["SLOW_WSGI_MARKS"]) / str(os.getpid())).touch()
time.sleep(60)
