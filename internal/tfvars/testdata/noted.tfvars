# Edited before by the SDK: both comments below start with a note.
worker_count = 3 # was 2
worker_type  = "cpx42"  # was cpx32; EU only, see INFRA-112
