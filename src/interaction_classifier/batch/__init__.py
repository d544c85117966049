"""Batch scoring: chunked reading and writing, workers, resume, the triage queue, the HTML report
and Spark.
"""
