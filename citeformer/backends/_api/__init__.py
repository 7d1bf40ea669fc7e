"""The plumbing the hosted-API backends share (private: import from the providers).

* :mod:`~citeformer.backends._api.settings`: the shared constructor arguments
  (:class:`ApiOptions`) and their checks.
* :mod:`~citeformer.backends._api.clients`: injected or lazily built SDK clients.
* :mod:`~citeformer.backends._api.backend`: :class:`ApiBackend`, the call template.
* :mod:`~citeformer.backends._api.errors`: SDK exceptions to citeformer errors.
* :mod:`~citeformer.backends._api.retry`: :class:`RetryPolicy` and the retry loops
  (public as :mod:`citeformer.backends.retry`).
* :mod:`~citeformer.backends._api.json_scan` (with its vocabulary in
  :mod:`~citeformer.backends._api.json_events`) and
  :mod:`~citeformer.backends._api.json_segments`: schema-tier output, whole or streamed.
* :mod:`~citeformer.backends._api.wire`: response JSON and server-sent events read
  from the SDK's raw response, for backends that skip its typed models.
"""

from citeformer.backends._api.backend import ApiBackend, ApiCall, StreamDecoder
from citeformer.backends._api.retry import RetryPolicy
from citeformer.backends._api.settings import (
    ASYNC_POOL_LIMITS,
    DEFAULT_TIMEOUT,
    ApiOptions,
    bool_option,
    mapping_option,
    milliseconds,
)

__all__ = [
    "ASYNC_POOL_LIMITS",
    "DEFAULT_TIMEOUT",
    "ApiBackend",
    "ApiCall",
    "ApiOptions",
    "RetryPolicy",
    "StreamDecoder",
    "bool_option",
    "mapping_option",
    "milliseconds",
]
