location = "hel1"
worker_count = 2