/** JMH benchmarks and the end-to-end load runner (see benchmarks/README.md). Not API. */
package io.zerohop.benchmarks;
