"""The layout study: several reuse layouts and seeds trained, decoded, scored and timed."""
