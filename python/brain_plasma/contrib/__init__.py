"""Glue between brain_plasma and web frameworks.

- :mod:`brain_plasma.contrib.flask_caching`: ``BrainCache``, a Flask-Caching
  backend (``pip install brain-plasma[flask]``).
- :mod:`brain_plasma.contrib.dash_extensions`: ``BrainBackend``, a
  dash-extensions ``ServersideOutputTransform`` backend
  (``pip install brain-plasma[dash]``).

Importing this package imports neither Flask nor Dash.
"""
