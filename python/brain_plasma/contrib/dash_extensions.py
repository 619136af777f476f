"""A dash-extensions ``ServersideOutputTransform`` backend in a brain-plasma
store.

::

    from dash_extensions.enrich import DashProxy, ServersideOutputTransform, Serverside
    from brain_plasma.contrib.dash_extensions import BrainBackend

    app = DashProxy(transforms=[ServersideOutputTransform(backends=[BrainBackend("myapp")])])

A callback that returns ``Serverside(df)`` stores the frame in the brain
(the browser gets only a short reference); whichever gunicorn worker runs
the next callback recalls it zero-copy.  Every ``Serverside`` output is a new
key (one per click), so entries expire: ``default_timeout`` seconds after
they are written (24 hours by default, as dash-extensions' Redis backend),
and when the store is full the oldest are evicted first (see
:class:`brain_plasma.contrib.flask_caching.BrainCache`, which this class
extends).  Like the Redis backend, ``get(key, ignore_expired=True)`` cannot
bring back an entry the store already expired: choose a timeout longer than
a user session.
"""
from dash_extensions.enrich import ServersideBackend

from .flask_caching import BrainCache

__all__ = ["BrainBackend"]

DEFAULT_TIMEOUT = 24 * 3600


class BrainBackend(BrainCache, ServersideBackend):
    """Serverside outputs in the store PATH (a name such as ``"myapp"`` or a
    path; None: the default store), namespace ``"cache:" + key_prefix``
    (``"cache:dash_extensions"`` by default).  Keyword arguments as
    :class:`BrainCache`."""

    def __init__(self, path=None, default_timeout=DEFAULT_TIMEOUT,
                 key_prefix="dash_extensions", size=None, **kwargs):
        BrainCache.__init__(self, path=path, default_timeout=default_timeout,
                            key_prefix=key_prefix, size=size, **kwargs)

    def get(self, key, ignore_expired=False):
        """The value stored under KEY, or None.  IGNORE_EXPIRED is accepted
        for the interface; an entry the store expired is gone."""
        if key is None:
            return None
        return BrainCache.get(self, key)

    @property
    def uid(self):
        """Unique per store and namespace, so two BrainBackends can share a
        ServersideOutputTransform."""
        return "BrainBackend:%s:%s" % (self.path, self.namespace)
