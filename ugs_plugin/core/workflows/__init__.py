"""The use cases: each workflow once, as a request (the only place its defaults live),
a result and one function ``run(request, feedback)``. The Processing algorithms and the
CLI parse their inputs into the request, call, and render the result."""
