"""The retry policy of the API backends; its home is :mod:`citeformer.backends._api.retry`.

Example:
    >>> from citeformer.backends.retry import RetryPolicy
    >>> RetryPolicy.none().max_retries
    0
"""

from citeformer.backends._api.retry import RetryPolicy, acall_with_retries, call_with_retries

__all__ = ["RetryPolicy", "acall_with_retries", "call_with_retries"]
