"""Next-best actions: the action catalog, features, the ranker and the policy that obeys the rules."""
