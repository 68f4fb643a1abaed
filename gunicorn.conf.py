"""gunicorn's settings, read from the working directory by every way the app is served (Procfile,
render.yaml, the live tests): command-line flags there still win."""

# The access log carries each request's duration (%(M)s: milliseconds) next to its status.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
