import { HttpException, HttpStatus } from '@nestjs/common';

/** The Identity provider cannot do this operation (e.g. no RFC 7592 management upstream). */
export class NotSupportedByProviderError extends HttpException {
  constructor(readonly operation: string, detail: string) {
    super(
      {
        statusCode: HttpStatus.NOT_IMPLEMENTED,
        error: 'not_supported_by_provider',
        message: `${operation} is not supported by this Identity provider: ${detail}`,
      },
      HttpStatus.NOT_IMPLEMENTED,
    );
  }
}
