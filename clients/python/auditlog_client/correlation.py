"""The seed's correlation contexts (section 3.1): the correlation in scope is a ContextVar, so
each thread starts outside any context and each asyncio task sees a copy of its creator's; a
context opened inside another is its child and carries the enclosing id as its parent."""

import functools
import inspect
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Correlation:
    id: str
    parent: Optional[str]


_current: ContextVar[Optional[Correlation]] = ContextVar("auditlog_correlation", default=None)


def generate_correlation_id(parent_correlation_id: Optional[str] = None,
                            operation_type: str = "request") -> str:
    """`CORR_{unix seconds}_{8 hex}_root`, or `…_{operation_type}` for a child, as the seed."""
    tail = operation_type if parent_correlation_id else "root"
    return f"CORR_{int(time.time())}_{uuid.uuid4().hex[:8]}_{tail}"


def current_correlation() -> Optional[Correlation]:
    return _current.get()


def get_current_correlation_id() -> Optional[str]:
    correlation = _current.get()
    return correlation.id if correlation else None


class CorrelationContext:
    """`with CorrelationContext() as correlation_id:` (or `async with`). The id is generated on
    entry unless given; on exit the enclosing context is back in scope."""

    def __init__(self, correlation_id: Optional[str] = None, operation_type: str = "operation"):
        self.correlation_id = correlation_id
        self.operation_type = operation_type
        # One token per entry: an instance may be entered again while it is in scope.
        self._tokens = []

    def __enter__(self) -> str:
        enclosing = _current.get()
        parent = enclosing.id if enclosing else None
        correlation_id = self.correlation_id or generate_correlation_id(parent, self.operation_type)
        # Entering the id already in scope stays in that context rather than nesting it in itself.
        if enclosing and enclosing.id == correlation_id:
            opened = enclosing
        else:
            opened = Correlation(correlation_id, parent)
        self._tokens.append(_current.set(opened))
        return correlation_id

    def __exit__(self, exc_type, exc, tb):
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        self.__exit__(exc_type, exc, tb)


def with_correlation_id(operation_type: str = "function"):
    """Decorator: each call of the function (sync or async) runs in a new context."""

    def decorator(func):
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with CorrelationContext(operation_type=operation_type):
                    return await func(*args, **kwargs)
            return async_wrapper

        @functools.wraps(func)
        def sync_wrapper(*args, **kwargs):
            with CorrelationContext(operation_type=operation_type):
                return func(*args, **kwargs)
        return sync_wrapper

    return decorator
