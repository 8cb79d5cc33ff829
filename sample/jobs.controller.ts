import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { Authenticated, CurrentIdentity, type Identity } from '../src/index.js';

/**
 * The design document's `POST /jobs` handler, the Nest way: service accounts need the
 * jobs:dispatch scope, people need the admin role.
 */
@Controller('jobs')
export class JobsController {
  private readonly jobs: Array<{ id: number; actor: string; payload: unknown }> = [];

  @Post()
  @HttpCode(201)
  @Authenticated()
  dispatch(@CurrentIdentity() identity: Identity, @Body() body: unknown) {
    if (identity.isServiceAccount()) identity.assertScope('jobs:dispatch');
    else identity.assertRole('admin');
    const job = { id: this.jobs.length + 1, actor: identity.describe(), payload: body ?? null };
    this.jobs.push(job);
    return { ok: true, job };
  }
}
