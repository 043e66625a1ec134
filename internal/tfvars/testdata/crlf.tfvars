worker_count = 2 # was 1
# type of the workers
worker_type = "cpx32"
location = "nbg1"
