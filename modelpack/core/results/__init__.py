"""What runs produce: the judgement of one answer, build records, matrix results, reports."""
