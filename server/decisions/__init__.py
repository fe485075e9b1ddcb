"""The county's decision on a case, the decision letter, and re-checks of recipients."""
