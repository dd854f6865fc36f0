"""The evaluation report: report.html (tables like the paper's) and its PNG figures."""

from radiomicgan.evaluate.report.html import ReportInputs, training_figures, write_report

__all__ = ["ReportInputs", "training_figures", "write_report"]
