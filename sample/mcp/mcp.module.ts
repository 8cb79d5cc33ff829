import { Module } from '@nestjs/common';
import { McpController } from './mcp.controller.js';

/** The orders MCP server at POST /mcp. Import it beside IdentityModule (configured with `resourceMetadata`). */
@Module({ controllers: [McpController] })
export class McpModule {}
