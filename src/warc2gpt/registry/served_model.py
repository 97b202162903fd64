"""The file MLflow runs to build the served model ("models from code"): nothing is pickled."""

from mlflow.models import set_model

from warc2gpt.registry.pyfunc import GPTTextGenerator

set_model(GPTTextGenerator())
