"""Ballast's Lambdas: the API server's routes and the event and schedule handlers, each handing off to chalicelib."""
from chalice import Chalice

app = Chalice(app_name="ballast")
