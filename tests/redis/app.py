"""A WSGI app for tests/redis (gunicorn workers of one "host"): GET /NAME
answers "pid rows sum" of the frame NAME recalled through the Redis Brain
of $BRAIN_URL (made when the module is imported: with --preload, before
gunicorn forks its workers)."""
import os

from brain_plasma import Brain

brain = Brain(os.environ["BRAIN_URL"])


def app(environ, start_response):
    name = environ["PATH_INFO"].strip("/")
    try:
        df = brain.recall(name)
        body = "%d %d %d" % (os.getpid(), len(df), int(df["x"].sum()))
        status = "200 OK"
    except Exception as exc:  # the test reads the error
        body = "%s: %s" % (type(exc).__name__, exc)
        status = "500 Internal Server Error"
    start_response(status, [("Content-Type", "text/plain")])
    return [body.encode()]
