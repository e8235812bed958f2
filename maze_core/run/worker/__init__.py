"""The worker contract every place a task runs follows: the call, its outcome, its context,
its model, and how calls and functions travel."""
