"""The one classifier every command shares: evidence from an exception or a log text, rules as
data (`rules/taxonomy.yml`), one label with its category and severity.

    classifier = Classifier.default()
    classifier.classify_exception(exc).label      # a live exception
    classifier.classify_text(traceback_text)      # a traceback or log message

It imports nothing of mosaic_diag above the platform layer.
"""

from mosaic_diag.classifier.classify import Classification, Classifier
from mosaic_diag.classifier.taxonomy import UNKNOWN, Label, Taxonomy, load_taxonomy

__all__ = ["UNKNOWN", "Classification", "Classifier", "Label", "Taxonomy", "load_taxonomy"]
