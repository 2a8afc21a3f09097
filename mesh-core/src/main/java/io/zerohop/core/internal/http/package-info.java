/**
 * Implementation of mesh-core's HTTP (L7) path. <strong>Not API:</strong> not exported by the
 * module, and it may change or disappear in any release without notice.
 */
package io.zerohop.core.internal.http;
