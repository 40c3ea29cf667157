set(KILN_RUNTIME_SOURCES
  cpp/kiln/runtime/cpu/threading.cpp
  cpp/kiln/runtime/cpu/kernel_table.cpp
  cpp/kiln/runtime/cpu/kernels/control_flow.cpp
  cpp/kiln/runtime/cpu/layout_concat.cpp
  cpp/kiln/runtime/cpu/plan.cpp
  cpp/kiln/runtime/cpu/compiled_model.cpp
)
