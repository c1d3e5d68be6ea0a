"""The console: `ballast dashboard`'s local web server (server.py, guard.py, manifests.py) and its page (static/)."""
