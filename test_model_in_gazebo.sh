#!/usr/bin/env bash
# The older pipeline's name for ./test_model_in_sim.sh (there is no Gazebo here: MuJoCo).
exec "$(dirname "$0")/test_model_in_sim.sh" "$@"
