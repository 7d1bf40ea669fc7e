"""Suite-wide settings.

Property tests run derandomised by default so CI is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds and more examples.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
