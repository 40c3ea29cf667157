set(KILN_ATTENTION_SOURCES
  cpp/kiln/ops/attention.cpp
)
