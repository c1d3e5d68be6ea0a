"""One Logger and one Metrics for the service; names come from POWERTOOLS_* in the stage's environment."""
from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
